"""The handheld server over real TLS (fleet CA certificate) and real WebSocket clients, wired to
a recording Dog (the ROS side is tested end to end in test_teleop_handheld_e2e.py)."""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from robot_dog import fleet
from robot_dog.teleop.certs import issue_teleop_cert
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.server import HandheldServer, ServerConfig
from tests.support import free_port, wait_for


class RecordingDog:
    """Stands in for node.py's ROS side: records what the server asks for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.twists: list[tuple[float, float]] = []
        self.check_ins: list[float] = []
        self.calls: list[tuple[str, dict]] = []
        self.voice_chunks: list[bytes] = []

    def drive(self, vx, wz):
        with self.lock:
            self.twists.append((vx, wz))

    def check_in(self, timeout_s):
        with self.lock:
            self.check_ins.append(timeout_s)

    def call(self, kind, args):
        with self.lock:
            self.calls.append((kind, args))
        return True, f"{kind} done"

    def state(self):
        return {"battery": 0.8, "estop": {"engaged": False, "reason": ""}, "motion": None, "speed": 0.0}

    def frame(self):
        return 1, b"\xff\xd8jpeg\xff\xd9"

    def caps(self):
        return 0.5, 1.0

    def voice(self, pcm):
        with self.lock:
            self.voice_chunks.append(pcm)


@pytest.fixture
def served(tmp_path: Path):
    root = tmp_path / "fleet"
    fleet.init_fleet(root, ["dog1"], broker=fleet.BrokerSettings(port=free_port()))
    cert, key = issue_teleop_cert(root, "dog1")
    dog = RecordingDog()
    server = HandheldServer(ServerConfig("127.0.0.1", 0, cert, key), dog, Pairing()).start()
    ctx = ssl.create_default_context(cafile=str(fleet.load_fleet(root).paths.ca_cert))
    try:
        yield server, dog, ctx
    finally:
        server.close()


class Phone:
    def __init__(self, server, ctx) -> None:
        self.ws = connect(f"wss://127.0.0.1:{server.port}/ws", ssl=ctx, open_timeout=20).__enter__()
        self.seq = 0

    def send(self, t, **fields):
        self.seq += 1
        self.ws.send(json.dumps({"t": t, "seq": self.seq, **fields}))

    def expect(self, t, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self.ws.recv(timeout=end - time.monotonic())
            if isinstance(msg, str) and json.loads(msg)["t"] == t:
                return json.loads(msg)
        raise AssertionError(f"no {t!r} message")


@pytest.mark.slow
def test_page_is_served_over_tls_trusted_by_the_fleet_ca(served):
    server, _, ctx = served
    with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=ctx, timeout=20) as r:
        assert r.status == 200 and b"E-STOP" in r.read()
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    untrusted = ssl.create_default_context()
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=untrusted, timeout=20)


@pytest.mark.slow
def test_pair_drive_deadman_and_second_handheld(served):
    server, dog, ctx = served
    phone = Phone(server, ctx)
    phone.send("drive", x=1.0, z=0.0)
    assert phone.expect("refused")["reason"] == "pair first"
    code = server.new_code()
    phone.send("pair", code="999999" if code != "999999" else "000000")
    assert phone.expect("refused")["reason"] == "wrong pairing code"
    phone.send("pair", code=code)
    token = phone.expect("paired")["token"]
    phone.send("drive", x=1.0, z=-0.5)
    phone.send("beat")
    phone.expect("beat")
    assert dog.twists[-1] == (0.5, -0.5)                  # full stick = the crowd cap
    phone.send("stop")
    phone.send("beat")
    phone.expect("beat")
    assert dog.twists[-1] == (0.0, 0.0)
    phone.send("light", on=True)
    assert phone.expect("result") == {"t": "result", "kind": "light", "ok": True,
                                      "message": "light done"}
    wait_for(lambda: dog.check_ins, "e-stop check-ins while live", timeout_s=20)
    assert set(dog.check_ins) == {0.5}

    # a second phone with the old code or no code drives nothing
    other = Phone(server, ctx)
    other.send("pair", code=code)
    assert "no pairing code is open" in other.expect("refused")["reason"]
    other.send("hello", token="forged")
    assert "not the paired handheld" in other.expect("refused")["reason"]
    # ... until the dog prints a new code: then the first phone is stopped and closed
    phone.send("drive", x=0.2, z=0.0)
    other.send("pair", code=server.new_code())
    other.expect("paired")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            phone.ws.recv(timeout=20)
    assert closed.value.rcvd.code == 4001
    assert dog.twists[-1] == (0.0, 0.0)
    old = Phone(server, ctx)
    old.send("hello", token=token)
    assert "not the paired handheld" in old.expect("refused")["reason"]
    for ws in (other, old):
        ws.ws.close()


@pytest.mark.slow
def test_video_and_state_reach_the_paired_page_only(served):
    server, _, ctx = served
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code())
    phone.expect("paired")
    state = phone.expect("state")
    assert state["battery"] == 0.8
    got = None
    end = time.monotonic() + 20
    while got is None and time.monotonic() < end:
        msg = phone.ws.recv(timeout=20)
        got = msg if isinstance(msg, bytes) else None
    assert got == b"\xff\xd8jpeg\xff\xd9"
    phone.ws.close()


@pytest.mark.slow
def test_closing_mid_drive_commands_zero_and_stops_check_ins(served):
    server, dog, ctx = served
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code())
    phone.expect("paired")
    phone.send("drive", x=0.6, z=0.0)
    wait_for(lambda: dog.twists and dog.twists[-1] == (0.3, 0.0), "driving", timeout_s=20)
    wait_for(lambda: dog.check_ins, "check-ins", timeout_s=20)
    phone.ws.close()
    wait_for(lambda: dog.twists[-1] == (0.0, 0.0), "zero after the page closed", timeout_s=20)
    wait_for(lambda: not server.session.live(time.monotonic()), "session lapsed", timeout_s=20)
    n = len(dog.check_ins)
    time.sleep(0.5)   # a negative check: no check-in may follow once the heartbeat lapsed
    assert len(dog.check_ins) == n
    assert 0.0 not in dog.check_ins                       # no clean leave: the e-stop will hold


@pytest.mark.slow
def test_malformed_frames_keep_the_connection(served):
    server, dog, ctx = served
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code())
    phone.expect("paired")
    phone.ws.send("{nonsense")
    assert phone.expect("refused")["reason"].startswith("not JSON")
    phone.ws.send(json.dumps({"t": "drive", "seq": 1, "x": 1.0, "z": 0}))
    assert "stale or duplicated" in phone.expect("refused")["reason"]
    phone.send("drive", x=5.0, z=0)
    assert "drive.x must be a number in [-1, 1]" in phone.expect("refused")["reason"]
    assert all(t == (0.0, 0.0) for t in dog.twists)       # nothing bad was ever driven
    phone.send("beat")
    phone.expect("beat")
    phone.send("leave")
    wait_for(lambda: 0.0 in dog.check_ins, "a clean leave of the e-stop watch", timeout_s=20)
    phone.ws.close()


@pytest.mark.slow
def test_push_to_talk_audio_only_while_talking(served):
    server, dog, ctx = served
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code())
    phone.expect("paired")
    phone.ws.send(b"\x01\x00" * 100)
    assert "outside push-to-talk" in phone.expect("refused")["reason"]
    phone.send("talk", on=True)
    phone.ws.send(b"\x01\x00" * 100)
    phone.ws.send(b"\x01" * 9000)
    assert "audio frame of 9000 bytes" in phone.expect("refused")["reason"]
    phone.send("talk", on=False)
    phone.ws.send(b"\x02\x00" * 10)
    assert "outside push-to-talk" in phone.expect("refused")["reason"]
    assert dog.voice_chunks == [b"\x01\x00" * 100]
    phone.ws.close()


@pytest.mark.slow
def test_a_stream_of_refused_frames_is_answered_each_time_but_logged_sparsely(served, caplog):
    server, dog, ctx = served
    phone = Phone(server, ctx)
    phone.send("pair", code=server.new_code())
    phone.expect("paired")
    with caplog.at_level(logging.WARNING, logger="robot_dog.teleop.server"):
        for _ in range(25):
            phone.ws.send(b"\x01\x00" * 10)
            assert "outside push-to-talk" in phone.expect("refused")["reason"]
    lines = [r.getMessage() for r in caplog.records if "outside push-to-talk" in r.getMessage()]
    assert len(lines) == 2 and lines[1].endswith("(10 times)")
    phone.ws.close()
