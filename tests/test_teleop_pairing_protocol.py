"""Handheld pairing, frame checks and session policy (pure, fake clock)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from robot_dog.safety.errors import Refused
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.protocol import MAX_FRAME_BYTES, FrameGate
from robot_dog.teleop.session import HandheldSession


def test_code_is_one_time_and_a_new_pairing_replaces_the_old_handheld():
    pairing = Pairing()
    code = pairing.new_code(0.0)
    assert len(code) == 6 and code.isdigit()
    first = pairing.pair(code, 1.0)
    pairing.check(first)
    with pytest.raises(Refused, match="no pairing code is open"):
        pairing.pair(code, 2.0)                           # spent
    second = pairing.pair(pairing.new_code(3.0), 3.0)
    pairing.check(second)
    with pytest.raises(Refused, match="not the paired handheld"):
        pairing.check(first)


def test_codes_expire():
    pairing = Pairing(code_ttl_s=10.0)
    code = pairing.new_code(0.0)
    with pytest.raises(Refused, match="no pairing code is open"):
        pairing.pair(code, 10.5)


def test_wrong_codes_lock_out_even_the_right_code():
    pairing = Pairing(max_failures=5, window_s=60.0, lockout_s=60.0)
    code = pairing.new_code(0.0)
    wrong = "000000" if code != "000000" else "111111"
    for i in range(5):
        with pytest.raises(Refused, match="wrong pairing code"):
            pairing.pair(wrong, float(i))
    with pytest.raises(Refused, match="too many wrong codes"):
        pairing.pair(code, 10.0)
    assert pairing.pair(code, 65.0)                       # after the lockout


def test_slow_wrong_codes_do_not_lock_out():
    pairing = Pairing(max_failures=3, window_s=10.0)
    code = pairing.new_code(0.0)
    for t in (0.0, 11.0, 22.0, 33.0):
        with pytest.raises(Refused, match="wrong pairing code"):
            pairing.pair("x", t)
    assert pairing.pair(code, 34.0)


def frame(**doc) -> str:
    return json.dumps(doc)


@pytest.mark.parametrize("raw, words", [
    ("{", "not JSON"),
    ("[1, 2]", "a frame is a JSON object"),
    (frame(t="fly", seq=1), "unknown frame type 'fly'"),
    (frame(t="beat"), "seq must be a non-negative integer"),
    (frame(t="beat", seq=True), "seq must be a non-negative integer"),
    (frame(t="drive", seq=1, x=float("nan"), z=0), "drive.x must be a number in [-1, 1]"),
    ('{"t": "drive", "seq": 1, "x": NaN, "z": 0}', "drive.x must be a number in [-1, 1]"),
    (frame(t="drive", seq=1, x=1.5, z=0), "drive.x must be a number in [-1, 1]"),
    (frame(t="drive", seq=1, x=0.5), "drive.z must be a number"),
    (frame(t="drive", seq=1, x=0.5, z=0, vx=9), "unexpected fields in drive: vx"),
    (frame(t="mode", seq=1, mode=3), "mode.mode must be str"),
    (frame(t="speed", seq=1, crowd="yes"), "speed.crowd must be bool"),
    (frame(t="beat", seq=1, pad="x" * MAX_FRAME_BYTES), "bytes >"),
    (b"\x00\x01\x02", "audio frame of 3 bytes"),
    (b"\x00" * 8194, "audio frame of 8194 bytes"),
])
def test_bad_frames_are_refused_with_a_reason(raw, words):
    with pytest.raises(Refused) as err:
        FrameGate().check(raw, 0.0)
    assert words in err.value.reason


def test_stale_and_duplicated_frames_are_refused():
    gate = FrameGate()
    assert gate.check(frame(t="drive", seq=5, x=0.5, z=-0.25), 0.0).args == {"x": 0.5, "z": -0.25}
    for seq in (5, 4):
        with pytest.raises(Refused, match=f"stale or duplicated frame: seq {seq} after 5"):
            gate.check(frame(t="beat", seq=seq), 0.1)
    assert gate.check(frame(t="beat", seq=6), 0.2).kind == "beat"


def test_rate_limit_refills():
    gate = FrameGate(max_rate_hz=10.0, burst=3.0)
    gate._tokens = 3.0
    for seq in range(3):
        gate.check(frame(t="beat", seq=seq), 0.0)
    with pytest.raises(Refused, match="more than 10 frames/s"):
        gate.check(frame(t="beat", seq=3), 0.0)
    assert gate.check(frame(t="beat", seq=4), 0.1).seq == 4     # 0.1 s = one more token


@given(st.text(max_size=600) | st.binary(max_size=600))
def test_any_garbage_is_refused_or_parsed_never_crashes(raw):
    try:
        req = FrameGate().check(raw, 0.0)
    except Refused as exc:
        assert exc.reason
    else:
        assert req.kind in ("audio", "talk", "pair", "hello", "drive", "stop", "beat", "estop", "release", "mode",
                            "speed", "light", "siren", "searchlight", "leave")


def test_session_deadman_and_heartbeat():
    s = HandheldSession(heartbeat_s=0.5, linear_cap=0.5, angular_cap=1.0)
    assert s.drive(1.0, -0.5, 0.0) == (0.5, -0.5) and s.driving
    assert s.stop(0.1) == (0.0, 0.0) and not s.driving
    s.drive(0.4, 0.0, 0.2)
    assert s.live(0.7) and not s.lost(0.7)
    assert s.lost(0.71) and not s.driving
    assert not s.lost(0.8)                                 # once
    s.heard(1.0)
    assert s.live(1.0)
    s.left = True
    assert not s.live(1.0) and not s.lost(5.0)             # a clean leave is not a loss
    s.heard(5.0)
    assert not s.live(5.0)                                 # beats alone do not re-join
    s.drive(0.1, 0.0, 5.1)
    assert s.live(5.1)
