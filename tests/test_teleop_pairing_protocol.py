"""Handheld pairing, frame checks and session policy (pure, fake clock)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from robot_dog.errors import Refused
from robot_dog.teleop import admission
from robot_dog.teleop.errors import HandheldRefused
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.protocol import MAX_FRAME_BYTES, FrameGate, Request
from robot_dog.teleop.session import HandheldSession


OFFICER, STRANGER = "192.168.8.20", "192.168.8.66"   # client addresses
NAME = "王警官"                                      # the officer a code is issued to


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_code_is_one_time_and_a_new_pairing_replaces_the_old_handheld():
    pairing = Pairing()
    code = pairing.new_code(0.0, NAME)
    assert len(code) == 6 and code.isdigit()
    first = pairing.pair(code, OFFICER, 1.0)
    pairing.check(first)
    with pytest.raises(Refused, match="no pairing code is open"):
        pairing.pair(code, OFFICER, 2.0)                  # spent
    second = pairing.pair(pairing.new_code(3.0, NAME), OFFICER, 3.0)
    pairing.check(second)
    with pytest.raises(Refused, match="not the paired handheld"):
        pairing.check(first)


def test_the_code_names_the_officer_and_revoking_ends_the_pairing():
    pairing = Pairing()
    assert pairing.officer == "" and not pairing.paired
    token = pairing.pair(pairing.new_code(0.0, NAME), OFFICER, 1.0)
    assert pairing.officer == NAME
    pairing.new_code(2.0, "李警官")              # a code for the next officer: not yet theirs
    assert pairing.officer == NAME
    pairing.revoke()                            # a lost phone
    assert pairing.officer == "" and not pairing.paired
    with pytest.raises(HandheldRefused) as err:
        pairing.check(token)
    assert err.value.code == "not_paired"


@pytest.mark.parametrize("bad", ["", "x" * 65, " lead", "tab\there", "\u200b", 7, None])
def test_a_code_is_issued_only_to_a_name_the_station_takes(bad):
    pairing = Pairing()
    with pytest.raises(HandheldRefused) as err:
        pairing.new_code(0.0, bad)
    assert err.value.code == "bad_officer"
    with pytest.raises(HandheldRefused):
        pairing.pair("000000", OFFICER, 0.0)     # and no code is open


def test_names_in_any_script_and_with_markup_are_names():
    pairing = Pairing()
    for name in ("王警官", "<script>x</script>", "O'Brien", "Ørsted"):
        pairing.pair(pairing.new_code(0.0, name), OFFICER, 0.0)
        assert pairing.officer == name


def test_codes_expire():
    pairing = Pairing(code_ttl_s=10.0)
    code = pairing.new_code(0.0, NAME)
    with pytest.raises(Refused, match="no pairing code is open"):
        pairing.pair(code, OFFICER, 10.5)


def test_a_strangers_wrong_codes_lock_out_the_stranger_not_the_officer():
    pairing = Pairing(max_failures=5, window_s=60.0, lockout_s=30.0)
    code = pairing.new_code(0.0, NAME)
    for i in range(5):
        with pytest.raises(HandheldRefused) as err:
            pairing.pair(wrong(code), STRANGER, float(i))
        assert err.value.code == "wrong_code"
    with pytest.raises(HandheldRefused) as err:
        pairing.pair(code, STRANGER, 10.0)                # locked: even the right code
    assert err.value.code == "pairing_locked"
    assert pairing.pair(code, OFFICER, 10.5)             # never global


def test_lockouts_back_off_and_are_forgotten_after_a_quiet_spell():
    pairing = Pairing(max_failures=2, window_s=60.0, lockout_s=30.0, max_lockout_s=100.0,
                      code_guesses=1000)
    code = pairing.new_code(0.0, NAME)

    def locked_for(t: float) -> float:
        for dt in (0.0, 0.1):
            with pytest.raises(HandheldRefused):
                pairing.pair(wrong(code), STRANGER, t + dt)
        with pytest.raises(HandheldRefused, match=r"wait (\d+) s") as err:
            pairing.pair(code, STRANGER, t + 0.2)
        return float(err.value.reason.rsplit("wait ", 1)[1].split()[0])

    assert locked_for(0.0) == pytest.approx(30, abs=1)
    assert locked_for(31.0) == pytest.approx(60, abs=1)   # doubled
    assert locked_for(92.0) == pytest.approx(100, abs=1)  # capped at max_lockout_s
    pairing.new_code(190.0, NAME)
    code = pairing._code
    assert locked_for(400.0) == pytest.approx(30, abs=1)  # quiet for > max_lockout_s: from the start


def test_one_code_takes_a_bounded_number_of_guesses_from_all_clients():
    pairing = Pairing(max_failures=5, code_guesses=20)
    code = pairing.new_code(0.0, NAME)
    for i in range(19):                                   # 19 addresses, one guess each
        with pytest.raises(HandheldRefused, match="wrong pairing code"):
            pairing.pair(wrong(code), f"10.0.0.{i}", 1.0)
    with pytest.raises(HandheldRefused) as err:
        pairing.pair(wrong(code), "10.0.1.1", 1.0)
    assert err.value.code == "code_void"
    with pytest.raises(HandheldRefused) as err:
        pairing.pair(code, OFFICER, 2.0)                  # void: the dog opens a new one
    assert err.value.code == "no_code_open"
    assert pairing.pair(pairing.new_code(3.0, NAME), OFFICER, 3.0)


def test_the_table_of_clients_is_bounded():
    pairing = Pairing(max_clients=100, code_guesses=10**6)
    code = pairing.new_code(0.0, NAME)
    for i in range(1000):
        with pytest.raises(HandheldRefused):
            pairing.pair(wrong(code), f"10.{i // 250}.{i % 250}.1", 1.0)
    assert len(pairing._clients) == 100


def test_slow_wrong_codes_do_not_lock_out():
    pairing = Pairing(max_failures=3, window_s=10.0)
    code = pairing.new_code(0.0, NAME)
    for t in (0.0, 11.0, 22.0, 33.0):
        with pytest.raises(Refused, match="wrong pairing code"):
            pairing.pair("x", OFFICER, t)
    assert pairing.pair(code, OFFICER, 34.0)


def test_a_revoked_pairing_does_not_resume():
    pairing = Pairing()
    token = pairing.pair(pairing.new_code(0.0, NAME), OFFICER, 0.0)
    pairing.revoke()
    with pytest.raises(HandheldRefused) as err:
        pairing.check(token)
    assert err.value.code == "not_paired" and not pairing.paired


def frame(**doc) -> str:
    return json.dumps(doc)


@pytest.mark.parametrize("raw, words", [
    ("{", "not JSON"),
    ("[1, 2]", "a frame is a JSON object"),
    (frame(t="fly", seq=1), "unknown frame type 'fly'"),
    (frame(t="beat"), "seq must be a non-negative integer"),
    (frame(t="beat", seq=True), "seq must be a non-negative integer"),
    (frame(t="drive", seq=1, x=float("nan"), z=0), "not JSON: NaN is not JSON"),
    (frame(t="drive", seq=1, x=True, z=0), "drive.x must be a number in [-1, 1]"),
    ('{"t": "drive", "seq": 1, "x": NaN, "z": 0}', "not JSON: NaN is not JSON"),
    ('{"t": "beat", "t": "estop", "seq": 1}', "not JSON: duplicate key 't'"),
    ('{"t": "drive", "seq": 1, "x": 0.1, "z": 0, "x": 1}', "not JSON: duplicate key 'x'"),
    ("[" * 40 + "]" * 40, "not JSON"),
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
                            "speed", "light", "siren", "searchlight", "leave", "record", "resume",
                            "cancel", "task", "unpair")


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


def test_a_stick_held_through_a_lapse_drives_again_only_after_neutral():
    """The session's own zero at the lapse is heard by the dog's interlock as the stick at
    neutral: a stick still held when the page comes back must not pass until re-centred."""
    s = HandheldSession(heartbeat_s=0.5, linear_cap=0.5, angular_cap=1.0)
    assert s.drive(1.0, 0.0, 0.0) == (0.5, 0.0)
    assert s.lost(0.6)                                     # the session commands zero here
    assert s.drive(1.0, 0.0, 2.0) == (0.0, 0.0) and not s.driving   # back, still deflected
    assert s.live(2.0)                                     # its frames still count as heard
    assert s.drive(0.0, 0.5, 2.05) == (0.0, 0.0)
    assert s.drive(0.0, 0.0, 2.1) == (0.0, 0.0)            # re-centred
    assert s.drive(1.0, 0.0, 2.15) == (0.5, 0.0) and s.driving
    s.lost(3.0)
    assert s.stop(3.5) == (0.0, 0.0)                       # the deadman let go: also neutral
    assert s.drive(0.4, 0.0, 3.6) == (0.2, 0.0)


def test_secret_fields_are_never_repeated_in_a_refusal():
    long_code = "9" * 65
    with pytest.raises(HandheldRefused) as err:
        FrameGate().check(frame(t="pair", seq=1, code=long_code), 0.0)
    assert long_code not in err.value.reason and "(not shown)" in err.value.reason
    with pytest.raises(HandheldRefused) as err:
        FrameGate().check(frame(t="hello", seq=1, token=["secret-token"]), 0.0)
    assert "secret-token" not in err.value.reason


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8443", True), ("localhost:8443", True), ("LOCALHOST", True), ("[::1]:8443", True),
    ("192.168.8.1:8443", True), ("192.168.8.1", True),
    ("192.168.8.1:9999", False), ("evil.example:8443", False), ("evil.example", False),
    ("[::1]x", False), ("", False), (None, False)])
def test_host_must_name_this_server(host, ok):
    names = admission.served_names("0.0.0.0", ["localhost", "127.0.0.1", "192.168.8.1"])
    if ok:
        admission.check_host(host, names, 8443)
    else:
        with pytest.raises(HandheldRefused) as err:
            admission.check_host(host, names, 8443)
        assert err.value.code == "bad_host"


@pytest.mark.parametrize("origin, ok", [
    ("https://192.168.8.1:8443", True), ("HTTPS://192.168.8.1:8443", True),
    ("http://192.168.8.1:8443", False), ("https://evil.example", False),
    ("https://192.168.8.1:8443.evil.example", False), ("null", False), (None, False)])
def test_websocket_origin_must_be_the_pages_own(origin, ok):
    if ok:
        admission.check_origin(origin, "192.168.8.1:8443", "https")
    else:
        with pytest.raises(HandheldRefused) as err:
            admission.check_origin(origin, "192.168.8.1:8443", "https")
        assert err.value.code == "bad_origin"


def test_plain_http_only_on_loopback():
    assert admission.is_loopback("127.0.0.1") and admission.is_loopback("::1")
    assert admission.is_loopback("localhost")
    assert not admission.is_loopback("0.0.0.0") and not admission.is_loopback("192.168.8.1")


def test_connections_are_capped_per_client_and_in_all_and_idle_ones_close():
    table = admission.ConnectionTable(max_connections=6, per_client=2, idle_s=10.0)
    assert table.admit("officer", OFFICER, 0.0) is None
    table.paired("officer")
    table.admit("s1", STRANGER, 1.0)
    table.admit("s2", STRANGER, 2.0)
    with pytest.raises(HandheldRefused) as err:
        table.admit("s3", STRANGER, 3.0)
    assert err.value.code == "client_connection_cap"
    for i in range(3):
        table.admit(f"m{i}", f"10.0.0.{i}", 4.0 + i)
    assert len(table) == 6
    # full: a new client replaces the longest-open unpaired connection, never the paired one
    assert table.admit("late", "10.0.0.9", 8.0) == "s1"
    table.heard("officer", 0.0)
    table.heard("late", 15.0)
    assert set(table.idle(15.5)) == {"s2", "m0", "m1"}   # heard last at 2..5 s; officer exempt
    table.close("s2")
    assert table.admit("s3", STRANGER, 16.0) is None      # a closed one frees its client's slot


def test_the_record_button_is_a_checked_request_and_calls_the_recorder_as_the_officer():
    gate = FrameGate()
    req = gate.check(json.dumps({"t": "record", "seq": 1, "on": True}), 0.0)
    assert (req.kind, req.args) == ("record", {"on": True})
    with pytest.raises(HandheldRefused):
        gate.check(json.dumps({"t": "record", "seq": 2, "on": "yes"}), 0.1)
    from robot_dog.teleop.page_requests import service_request
    name, fields = service_request("record", {"on": False})
    assert name == "bodycam/record"
    assert fields == {"start": False, "reason": "handheld Record button", "lock": False,
                      "source": "handheld"}   # a local source: it may stop a locked recording


def test_resume_and_cancel_are_checked_requests_that_resume_the_patrol_and_end_its_goal():
    """The page's Resume patrol and End goal: frames without fields (the page resumes only the
    patrol input: it cannot name another), mapped to the registry's `resume` and `cancel` as the
    handheld endpoint."""
    gate = FrameGate()
    assert gate.check(json.dumps({"t": "resume", "seq": 1}), 0.0) == Request("resume", 1, {})
    assert gate.check(json.dumps({"t": "cancel", "seq": 2}), 0.1) == Request("cancel", 2, {})
    for seq, doc in enumerate(({"t": "resume", "input": "handheld"}, {"t": "cancel", "goal": "x"}), 3):
        with pytest.raises(HandheldRefused) as err:
            gate.check(json.dumps({**doc, "seq": seq}), 0.2)
        assert err.value.code == "bad_field" and "unexpected fields" in err.value.reason
    from robot_dog.teleop.page_requests import service_request
    assert service_request("resume", {}, NAME) == ("motion/resume", {"input": "patrol",
                                                                     "endpoint": "handheld"})
    assert service_request("cancel", {}, NAME) == ("patrol/cancel", {"endpoint": "handheld"})
