"""Talk audio belongs to the operator who opened the window, end to end: the real station over
HTTP, the secured Mosquitto, the real uplink_node, a ROS probe on `megaphone/voice/station` (what the
megaphone would play), paho with a station user's credential ("station2") as the attacker.

- while alice talks, the attacker's own packets (unsealed, or sealed with a guessed key) and
  bob (another operator on the station) get nothing played;
- a recording of alice's packets (what a compromised broker could keep) replayed into her
  window is refused as `replayed`, into her next window as `wrong_window`;
- voice for a dog nobody opened a window on is refused at the station.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from functools import partial

import pytest
from robot_dog_interfaces.msg import AudioChunk

from robot_dog.audio import opus, voices
from robot_dog.mqtt import talk_seal, topics
from robot_dog.ros import qos
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.ros_nodes import RosProbe
from tests.support import free_port
from tests.test_audio_opus import encode_all, tone
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)


class Operators:
    """alice and bob, two operators of the station, each with an API token of their own."""

    def __init__(self, port: int, accounts) -> None:
        from robot_dog.station.accounts import local_admin
        self.base, self.tokens = f"http://127.0.0.1:{port}", {}
        for name in ("alice", "bob"):
            accounts.add_account(local_admin("test"), name, "operator", f"{name}'s password")
            self.tokens[name] = accounts.create_token(local_admin("test"), "test", account=name).secret

    def _send(self, path: str, body: bytes, kind: str, operator: str) -> tuple[int, dict]:
        req = urllib.request.Request(self.base + path, method="POST", data=body, headers={
            "Authorization": f"Bearer {self.tokens[operator]}", "Content-Type": kind})
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def talk(self, dog: str, seconds: float, operator: str) -> tuple[int, dict]:
        return self._send(f"/api/dogs/{dog}/commands/talk?wait=8",
                          json.dumps({"seconds": seconds}).encode(), "application/json", operator)

    def voice(self, dog: str, seconds: float, operator: str) -> tuple[int, dict]:
        return self._send(f"/api/dogs/{dog}/audio/voice", tone(800.0, seconds).tobytes(),
                          "application/octet-stream", operator)


def test_only_the_windows_operator_speaks_and_recordings_do_not_replay(secure_broker, children,
                                                                        tmp_path):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    recording: list[bytes] = []  # every voice packet the station sends, as a broker could keep
    publish = station.talk._publish
    station.talk._publish = lambda t, p, q, e: (recording.append(p), publish(t, p, q, e))[1]
    spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path)
    log = tmp_path / "uplink_dog1.log"
    probe = RosProbe(namespace)
    probe.record(AudioChunk, voices.STATION.topic, qos.SENSOR)
    played = lambda: len(probe.messages(voices.STATION.topic))
    ops = Operators(port, station.accounts)
    mallory = secure_broker.paho("station2")

    def inject(payloads: list[bytes]) -> None:
        for payload in payloads:
            mallory.publish(topics.voice("dog1"), payload, qos=1).wait_for_publish(30)

    try:
        # No window anywhere: refused at the station, nothing allocated (also for invented dogs).
        assert ops.voice("dog1", 0.1, "alice")[0] == 409
        assert ops.voice("nodog", 0.1, "alice")[0] == 409
        assert station.talk._windows == {}

        wait_for(lambda: ops.talk("dog1", 30, "alice")[1].get("result", {}).get("code") == "ok",
                 "alice's talk window open on the dog")
        status, body = ops.talk("dog1", 30, "bob")
        assert status == 409 and "talk_busy" in body["error"]
        assert ops.voice("dog1", 0.1, "bob")[0] == 409          # not bob's window

        # The attacker's packets in alice's window: plain envelopes and a guessed key.
        frames = encode_all(tone(300.0, 0.4))
        plain = [opus.pack(opus.VoicePacket(1000 + i, 0, f)) for i, f in enumerate(frames)]
        window = station.talk._windows["dog1"].key.window
        guessed = [talk_seal.seal(talk_seal.WindowKey(window, bytes(32)), p) for p in plain]
        inject(plain + guessed)
        wait_for(lambda: "bad_tag" in log.read_text(), "the dog refusing the forged packets")
        assert played() == 0, "an attacker's packet played"

        # alice speaks: her packets play.
        sent = sum(ops.voice("dog1", 0.5, "alice")[1]["packets"] for _ in range(2))
        assert sent == len(recording) > 0
        wait_for(lambda: played() > 0, "alice's voice on megaphone/voice/station")
        first_window = list(recording)
        # Replayed into the same window: refused (sequence not above the last played).
        inject(first_window)
        wait_for(lambda: "replayed" in log.read_text(), "the replay refused")

        # Closed, reopened: the first window's recording is refused in the second.
        assert ops.talk("dog1", 0, "alice")[1]["result"]["code"] == "ok"
        assert ops.talk("dog1", 30, "alice")[1]["result"]["code"] == "ok"
        inject(first_window)
        wait_for(lambda: "wrong_window" in log.read_text(), "the old recording refused")
        more = ops.voice("dog1", 0.5, "alice")[1]["packets"]
        wait_for(lambda: played() > 0 and ops.voice("dog1", 0.02, "alice")[0] == 200
                 and played() >= 1, "alice heard in her new window")
        assert played() <= sent + more + 1, "only alice's own packets played, each once"
        # The audit shows the window, never its key.
        audit = [c for c in station.storage.commands("dog1") if c["verb"] == "talk"]
        assert audit and all("key" not in c["args"] for c in audit)
        assert all("window" in c["args"] for c in audit if c["args"].get("seconds"))
    finally:
        mallory.loop_stop()
        mallory.disconnect()
        probe.close()
        station.stop()
