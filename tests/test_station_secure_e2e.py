"""The secured fleet end to end: two dogs (two uplink_node processes with fleet credentials) and a
station against the secured Mosquitto; the station signs a command that dog1 executes (a tiny
fake `police_light/set` server stands in for the payload node), and every bad-input case is
refused, counted and answered while both ends keep running. Foreign clients: mosquitto_pub,
with credentials of their own (the broker binds each session to its user, so a second
connection as "station" or "dog1" would take over that client's session): "station2" stands
for anyone holding a station password, "dog3" for a captured dog.
"""
from functools import partial
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from robot_dog.mqtt import signing, topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import OPERATOR, api_token
from tests.fixtures.processes import unique_namespace

pytestmark = pytest.mark.slow
WAIT_S = 90.0
wait_for = partial(support.wait_for, timeout_s=WAIT_S)

FAKE_LIGHT = """
import sys
import rclpy, robot_dog
from rclpy.node import Node
from robot_dog_interfaces.srv import SetPoliceLight
rclpy.init()
node = Node("fake_light", namespace=sys.argv[1])
def serve(req, resp):
    resp.accepted, resp.message = req.pattern != "steady", f"pattern {req.pattern}"
    resp.code = "ok" if resp.accepted else "out_of_limits"
    print("SET", req.pattern, flush=True)
    return resp
node.create_service(SetPoliceLight, "police_light/set", serve)
try:
    rclpy.spin(node)
except KeyboardInterrupt:
    pass
"""



def uplink(children, broker, dog, namespace, tmp_path):
    paths = broker.fleet.paths
    return children.spawn(
        sys.executable, "-m", "robot_dog.uplink.node", "--ros-args", "-r", f"__ns:={namespace}",
        "-p", f"dog_id:={dog}", "-p", f"broker_port:={broker.port}",
        "-p", f"ca_file:={paths.dog_ca_cert(dog)}", "-p", f"password_file:={paths.dog_password(dog)}",
        "-p", f"command_public_key:={paths.dog_public_key(dog)}", "-p", f"state_dir:={tmp_path / dog}",
        "-p", "telemetry_hz:=5.0")


class Api:
    def __init__(self, port: int, token: str):
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def get(self, path):
        """A read: it needs a login too (the API token)."""
        req = urllib.request.Request(self.base + path,
                                     headers={"Authorization": f"Bearer {self.token}"})
        return json.load(urllib.request.urlopen(req, timeout=10))

    def command(self, dog, verb, args, token=None, wait=8):
        return self.post(f"/api/dogs/{dog}/commands/{verb}?wait={wait}", args, token)

    def post(self, path, body, token=None):
        """(status, JSON answer) of a POST with the API token (X-Operator is ignored)."""
        req = urllib.request.Request(
            self.base + path, method="POST", data=json.dumps(body).encode(), headers={
                "Authorization": f"Bearer {token or self.token}", "X-Operator": "alice",
                "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)


def mosquitto_pub(broker, user, topic, payload: bytes, password=None):
    return subprocess.run(["mosquitto_pub", *broker.cli_args(user, password), "-q", "1", "-t", topic,
                           "-s"], input=payload, capture_output=True, timeout=30)


def test_two_dogs_station_signed_commands_and_every_bad_input(make_secure_broker, children, tmp_path):
    secure_broker = make_secure_broker(("dog1", "dog2", "dog3"), ("station", "station2"))
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    0, fleet_dir=secure_broker.fleet.root)).start()
    http_port = station.http.port  # bound to port 0: the kernel's pick, never raced
    # MQTT dog ids on this test's own broker; ROS namespaces of this test only.
    namespaces = {dog: unique_namespace() for dog in ("dog1", "dog2")}
    light = children.spawn(sys.executable, "-c", FAKE_LIGHT, namespaces["dog1"], stdout=subprocess.PIPE)
    for dog in ("dog1", "dog2"):
        uplink(children, secure_broker, dog, namespaces[dog], tmp_path)
    token = api_token(station.accounts)
    api = Api(http_port, token)
    audit = lambda dog: api.get(f"/api/dogs/{dog}/commands")["commands"]
    try:
        fleet = lambda: {d["dog"]: d for d in api.get("/api/fleet")["dogs"]}
        wait_for(lambda: all(fleet().get(d, {}).get("status") == "online" and fleet()[d]["telemetry"] > 0
                             for d in ("dog1", "dog2")), "both dogs online with telemetry")

        # --- the good path: signed by the station, executed by dog1's service -------------------
        def flash():
            status, body = api.command("dog1", "police_light", {"pattern": "flash"})
            return body if status == 200 and body["result"]["code"] == "ok" else None
        body = wait_for(flash, "dog1 to execute police_light (service discovery)")
        assert body["result"]["verb"] == "police_light"
        status, body = api.command("dog1", "police_light", {"pattern": "steady"})
        assert status == 200 and body["result"]["code"] == "out_of_limits"   # the node's code
        status, body = api.command("dog2", "siren", {"tone": "wail"})   # no siren service on dog2
        assert status == 200 and body["result"]["code"] == "unavailable"
        # refused by the station against the verb registry, before anything is signed
        status, body = api.command("dog1", "police_light", {"pattern": "disco"})
        assert (status, body["code"]) == (400, "bad_args"), body
        status, body = api.command("dog1", "dance", {})
        assert (status, body["code"]) == (400, "unknown_verb"), body
        # HTTP refusals
        assert api.command("dog1", "police_light", {"pattern": "flash"}, token="wrong")[0] == 401
        assert api.command("dog9", "police_light", {"pattern": "flash"})[0] == 404
        entry = next(c for c in audit("dog1") if c["code"] == "out_of_limits")
        # the API token's account, never the X-Operator name
        assert entry["issuer"] == OPERATOR and entry["args"] == {"pattern": "steady"}
        assert entry["issued_at"] <= entry["result_at"]

        # --- commands from a foreign client (station credentials, mosquitto_pub) ----------------
        key1 = signing.load_signing_key(secure_broker.command_key("dog1"))
        key2 = signing.load_signing_key(secure_broker.command_key("dog2"))
        now = time.time()
        t = topics.cmd("dog1", "police_light")
        cases = {
            "malformed": b'{"verb": "police_light", "nonce": "unsigned-nonce-0001"}',
            "bad_signature": signing.sign(key2, dog="dog1", verb="police_light", args={"pattern": "flash"},
                                          now=now, issuer="mallory", nonce="forged-nonce-000001"),
            "expired": signing.sign(key1, dog="dog1", verb="police_light", args={"pattern": "flash"},
                                    now=now - 60, issuer="mallory", nonce="expired-nonce-00001"),
            "wrong_dog": signing.sign(key2, dog="dog2", verb="police_light", args={"pattern": "flash"},
                                      now=now, issuer="mallory", nonce="wrongdog-nonce-0001"),
        }
        for payload in cases.values():
            assert mosquitto_pub(secure_broker, "station2", t, payload).returncode == 0
        replay = signing.sign(key1, dog="dog1", verb="police_light", args={"pattern": "flash"},
                              now=time.time(), issuer="alice", nonce="replay-nonce-000001")
        replayed = lambda: next((c for c in audit("dog1")
                                 if c["nonce"] == "replay-nonce-000001"), {})
        # The copy goes again once the first is answered: a loaded dog may still be running the
        # first (a service call) when a quick second copy is refused, and then the refusal
        # would be the first answer on record.
        assert mosquitto_pub(secure_broker, "station2", t, replay).returncode == 0
        wait_for(lambda: replayed().get("code") == "ok", "the first copy executed")
        assert mosquitto_pub(secure_broker, "station2", t, replay).returncode == 0
        wanted = {"unsigned-nonce-0001": "malformed", "forged-nonce-000001": "bad_signature",
                  "expired-nonce-00001": "expired", "wrongdog-nonce-0001": "wrong_dog"}
        wait_for(lambda: all(any(c["nonce"] == n and c["code"] == code for c in audit("dog1"))
                             for n, code in wanted.items()), "every rejection in the audit log")
        # the replayed copy: first executed, second refused; the audit row keeps the first
        # result, the refusal is kept as a later answer and cannot overwrite it
        wait_for(lambda: [a["code"] for a in replayed().get("answers", [])] == ["ok", "replayed"],
                 "the replay refused")
        assert replayed()["code"] == "ok" and replayed()["ok"] is True

        # --- a (captured) dog publishing into another dog's tree / lying in its own --------------
        doc2 = json.dumps({"v": 1, "dog": "dog2", "seq": 424242, "ts": 1.0}).encode()
        mosquitto_pub(secure_broker, "dog3", topics.telemetry("dog2"), doc2)  # the ACL drops it
        bad = {"dog_mismatch": doc2, "malformed_json": b"{nope", "oversized": b"{" + b" " * 20000 + b"}",
               "schema": json.dumps({"v": 1, "dog": "dog3", "seq": -5, "ts": 1.0}).encode()}
        for payload in bad.values():
            assert mosquitto_pub(secure_broker, "dog3", topics.telemetry("dog3"), payload).returncode == 0
        assert mosquitto_pub(secure_broker, "dog3", topics.events("dog3"), b'{"v":1}').returncode == 0
        wait_for(lambda: all(station.ingest.rejected[r] >= 1 for r in bad)
                 and station.ingest.rejected["schema"] >= 2, "station rejections (+ the bad event)")
        station.storage.flush()
        assert 424242 not in station.storage.telemetry_seqs("dog2"), "ACL kept dog3 out of dog2's tree"

        # --- both ends keep running ----------------------------------------------------------------
        status, body = api.command("dog1", "police_light", {"pattern": "alternate"})
        assert status == 200 and body["result"]["code"] == "ok"
        before = fleet()["dog2"]["telemetry"]
        wait_for(lambda: fleet()["dog2"]["telemetry"] > before, "dog2 telemetry still flowing")
    finally:
        station.stop()
        children.reap()
    out = light.stdout.read()
    assert "SET flash" in out and "SET alternate" in out
