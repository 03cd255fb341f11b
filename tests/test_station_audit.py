"""The command audit log cannot be rewritten by a dog: a result counts only from the dog the
command was addressed to, and only the first; later answers are kept apart. Real secured
Mosquitto, the real station and its HTTP API, mosquitto_pub with dog1's credential as the liar.
And a command to a dog whose last will said offline is refused unsent and audited, its e-stop
sent all the same.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from functools import partial

from robot_dog.mqtt import results, signing, topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.support import free_port

wait_for = partial(support.wait_for, timeout_s=60.0)


def test_a_dog_cannot_complete_another_dogs_command(secure_broker, tmp_path):
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    token = api_token(station.accounts)
    auth = {"Authorization": f"Bearer {token}", "X-Operator": "alice"}

    def api(path, data=None):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={
            **auth, "Content-Type": "application/json"}, data=data,
            method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, json.load(reply)

    try:
        wait_for(station.connected.is_set, "the station connected")
        status, sent = api("/api/dogs/dog2/commands/estop?wait=0", b"{}")  # dog2 is offline
        assert status == 202
        # dog1 is captured: its result key signs as dog1, never as dog2.
        dog1_key = signing.load_signing_key(secure_broker.fleet.paths.dog_result_key("dog1"))
        forged = results.sign(dog1_key, "dog1", time.time(), code="ok", nonce=sent["nonce"],
                              verb="estop")
        done = subprocess.run(["mosquitto_pub", *secure_broker.cli_args("dog1"), "-q", "1", "-t",
                               topics.cmd_result("dog1"), "-s"], input=forged,
                              capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
        estop = lambda: api("/api/dogs/dog2/commands")[1]["commands"][0]
        wait_for(lambda: estop()["answers"], "dog1's answer on record")
        assert estop()["answers"][0]["dog"] == "dog1"
        assert estop()["code"] is None and estop()["ok"] is None, "not marked done by dog1"
        assert station.dispatcher.wait(sent["nonce"], 0) is None, "nor handed to a waiter"
    finally:
        station.stop()


def test_a_dogs_last_will_makes_its_commands_refused_but_not_its_e_stop(secure_broker, tmp_path):
    """The real path: dog2's "offline" (its last will, retained) comes through the secured
    Mosquitto and the station's ingest; the API then refuses dog2's light (409 dog_offline,
    nothing published, audited) and still sends its e-stop. dog2 online again: sent."""
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    token = api_token(station.accounts)
    dog = secure_broker.paho("dog2")

    def command(verb: str, args: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/dogs/dog2/commands/{verb}?wait=0",
            data=json.dumps(args).encode(), method="POST", headers={
                "Authorization": f"Bearer {token}", "X-Operator": "alice",
                "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)

    def status(word: bytes) -> None:
        dog.publish(topics.status("dog2"), word, qos=1, retain=True).wait_for_publish(30)
        wait_for(lambda: station.http.last_status("dog2") == word.decode(),
                 f"dog2 {word.decode()} at the station")

    try:
        wait_for(station.connected.is_set, "the station connected")
        status(topics.OFFLINE)
        assert command("police_light", {"pattern": "flash"}) == (409, {
            "error": "dog2 is offline: police_light not sent (only the e-stop is sent to an "
                     "offline dog)", "code": "dog_offline"})
        station.storage.flush()
        assert station.storage.commands("dog2", 10) == [], "nothing signed or sent"
        refused = station.accounts.tables.audit(1, kind="command")[0]
        assert (refused["ok"], refused["target"], refused["detail"]["reason"]) == (
            False, "dog2", "dog_offline")
        code, sent = command("estop", {})
        assert code == 202 and sent["status"] == "sent", "a stop is always tried"
        status(topics.ONLINE)
        assert command("police_light", {"pattern": "flash"})[0] == 202
    finally:
        dog.loop_stop()
        dog.disconnect()
        station.stop()
