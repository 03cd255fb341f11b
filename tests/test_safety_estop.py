"""E-stop rules: deadlines, holds, who may release; scenarios and hypothesis property runs."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import ADMIN, CONTROLLED, IMMEDIATE, EstopCore


def test_missed_deadline_is_a_controlled_stop_held_until_explicit_release():
    core = EstopCore()
    assert core.check_in("handheld", 0.5, 0.0) == "handheld joined (deadline 0.5 s)"
    assert core.tick(0.5) == [] and not core.status().engaged       # deadline inclusive
    assert core.tick(0.51) == ["handheld missed its 0.5 s deadline"]
    status = core.status()
    assert status.engaged and status.category == CONTROLLED and status.stale == ("handheld",)
    with pytest.raises(Refused, match="check in before releasing"):
        core.release("handheld", 0.6)
    core.check_in("handheld", 0.5, 0.7)
    core.tick(0.7)
    assert core.status().engaged and core.status().stale == ()      # check-in does not release
    assert core.release("handheld", 0.8) == "handheld released its hold"
    assert not core.status().engaged


def test_engage_is_immediate_and_only_its_endpoint_or_admin_releases():
    core = EstopCore()
    hold = core.engage("station", "viewer button", 1.0)
    assert (hold.endpoint, hold.reason, hold.since) == ("station", "viewer button", 1.0) and hold.id
    status = core.status()
    assert status.engaged and status.category == IMMEDIATE and status.reason == "station: viewer button"
    with pytest.raises(Refused, match="handheld holds no e-stop .held by station."):
        core.release("handheld", 1.1)
    assert core.status().engaged
    assert core.release(ADMIN, 1.2) == "admin released every hold (station)"
    assert not core.status().engaged
    with pytest.raises(Refused, match="not engaged"):
        core.release(ADMIN, 1.3)


def test_two_holds_need_two_releases_and_the_strictest_category_counts():
    core = EstopCore()
    core.check_in("mcu", 0.2, 0.0)
    core.tick(0.3)
    core.engage("handheld", "officer pressed e-stop", 0.3)
    assert core.status().category == IMMEDIATE
    assert core.release("handheld", 0.4) == "handheld released its hold; still held by mcu"
    assert core.status().engaged and core.status().category == CONTROLLED


def test_leaving_cleanly_and_bad_check_ins():
    core = EstopCore()
    core.check_in("handheld", 0.5, 0.0)
    assert core.check_in("handheld", 0, 0.1) == "handheld left (no longer watched)"
    assert core.tick(100.0) == [] and not core.status().engaged
    for endpoint, timeout, words in (("phone", 0.5, "unknown e-stop endpoint"),
                                     ("handheld", 0.01, "outside"), ("handheld", 60, "outside"),
                                     ("handheld", float("nan"), "not a finite number")):
        with pytest.raises(Refused, match=words):
            core.check_in(endpoint, timeout, 0.0)


def test_engage_is_never_refused_even_unnamed_but_only_admin_releases_an_unknown_hold():
    core = EstopCore()
    core.engage("", "", 0.0)
    core.engage("mallory", "x", 0.0)
    assert [(h.endpoint, h.reason) for h in core.status().holds] == [
        ("unknown", "from unknown endpoint 'mallory': x")]
    for name in ("", "unnamed", "unknown", "mallory"):
        with pytest.raises(Refused) as refused:
            core.release(name, 0.1)
        assert refused.value.code == "unknown_endpoint"
        with pytest.raises(Refused) as refused:
            core.check_in(name, 0.5, 0.1)
        assert refused.value.code == "unknown_endpoint"
    assert core.status().engaged
    core.release(ADMIN, 0.2)
    assert not core.status().engaged


def test_next_deadline():
    core = EstopCore()
    assert core.next_deadline() is None
    core.check_in("handheld", 0.5, 1.0)
    core.check_in("station", 2.0, 1.0)
    assert core.next_deadline() == 1.5


endpoints = st.sampled_from(["handheld", "station", "mcu", "button", ADMIN])
ops = st.lists(st.one_of(
    st.tuples(st.just("check_in"), endpoints, st.sampled_from([0, 0.1, 0.5, 2.0])),
    st.tuples(st.just("engage"), endpoints, st.none()),
    st.tuples(st.just("release"), endpoints, st.none()),
    st.tuples(st.just("wait"), st.none(), st.floats(0, 1.0)),
), max_size=50)


@given(ops)
def test_properties_of_any_sequence(script):
    """Only a release clears a hold; a refused release changes nothing; a stale endpoint always
    holds; engaged == some hold; an engage always engages."""
    core, now = EstopCore(), 0.0
    for op, endpoint, arg in script:
        before = core.status()
        if op == "check_in":
            try:
                core.check_in(endpoint, arg, now)
            except Refused:
                assert endpoint == ADMIN
            core.tick(now)
            assert set(before.holds) <= set(core.status().holds)
        elif op == "engage":
            core.engage(endpoint, "test", now)
            assert core.status().engaged and core.status().category == IMMEDIATE
        elif op == "release":
            try:
                core.release(endpoint, now)
            except Refused:
                assert core.status() == before
            else:
                if endpoint == ADMIN:
                    assert not core.status().engaged
                else:
                    assert endpoint not in {h.endpoint for h in core.status().holds}
                    assert {h.endpoint for h in core.status().holds} == \
                        {h.endpoint for h in before.holds} - {endpoint}
        else:
            now += arg
            core.tick(now)
            assert set(before.holds) <= set(core.status().holds)
        status = core.status()
        assert status.engaged == any(h.scope == "full" for h in status.holds)
        assert set(status.stale) <= {h.endpoint for h in status.holds}


def _code(call) -> str:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code


def test_a_release_frees_only_the_hold_it_names():
    core = EstopCore()
    first = core.engage("station", "viewer", 10.0, wall=1000.0)
    core.release("station", 10.5, wall=1000.5, hold_id=first.id)
    second = core.engage("station", "viewer", 12.0, wall=1002.0)
    # the first release again (replayed), and one signed before the second engage, are refused
    assert _code(lambda: core.release("station", 13.0, 1003.0, hold_id=first.id)) == "hold_mismatch"
    assert _code(lambda: core.release("station", 13.0, 1003.0, issued_at=1001.0)) == \
        "release_before_hold"
    assert core.status().engaged and core.status().holds[0].id == second.id
    assert core.release("station", 13.0, 1003.0, issued_at=1002.5) == "station released its hold"


def test_a_repeated_engage_renews_the_hold():
    core = EstopCore()
    first = core.engage("station", "a", 0.0, wall=100.0)
    second = core.engage("station", "b", 1.0, wall=101.0)
    assert first.id != second.id and core.status().holds == (second,)
    assert _code(lambda: core.release("station", 2.0, 102.0, issued_at=100.5)) == \
        "release_before_hold"


def test_boot_hold_survives_a_restart_and_only_a_human_releases_it():
    before = EstopCore()
    before.engage("station", "viewer", 0.0, wall=100.0)
    doc = before.snapshot()
    after = EstopCore()
    notes = after.restore(doc, wall=200.0)
    assert notes == ["restored hold of station: viewer"]
    assert {h.endpoint for h in after.status().holds} == {"station", "boot"}
    for name in ("mcu", "button"):
        assert _code(lambda name=name: after.release(name, 1.0, 201.0)) == "not_held"
    assert after.release("station", 1.0, 201.0) == "station released its hold; still held by boot"
    assert _code(lambda: after.release("station", 1.0, 201.0, issued_at=150.0)) == \
        "release_before_hold"                     # signed before the node came back
    assert after.release("station", 1.0, 201.0) == "station released the boot hold"
    assert not after.status().engaged
    for bad in (None, "junk", {"version": 2}, {"version": 1, "holds": [{"endpoint": 1}]}):
        core = EstopCore()
        assert core.restore(bad, 0.0)[-1].startswith("state unreadable")
        assert [h.endpoint for h in core.status().holds] == ["boot"]


def test_a_lost_station_holds_autonomy_only_while_a_handheld_is_live():
    core = EstopCore()
    core.check_in("station", 2.0, 0.0)
    core.check_in("handheld", 0.5, 0.0)
    for t in (0.4, 0.8, 1.2, 1.6, 2.0):
        core.check_in("handheld", 0.5, t)
    core.tick(2.1)
    status = core.status()
    assert status.autonomy_held and not status.engaged and status.stale == ("station",)
    core.tick(2.6)                                   # the handheld is lost too: a full stop
    status = core.status()
    assert status.engaged and status.autonomy_held and status.stale == ("handheld", "station")

    core = EstopCore()                               # no officer: a lost station is a full stop
    core.check_in("station", 2.0, 0.0)
    core.tick(2.1)
    assert core.status().engaged and not core.status().autonomy_held


def test_configured_endpoint_names():
    core = EstopCore(known=("station", "mcu"))
    assert _code(lambda: core.check_in("handheld", 0.5, 0.0)) == "unknown_endpoint"
    with pytest.raises(ValueError):
        EstopCore(known=("admin",))
    with pytest.raises(ValueError):
        EstopCore(known=("unnamed thing",))


def test_state_file_is_written_atomically_and_read_back(tmp_path):
    from robot_dog.safety import state_file
    path = tmp_path / "sub" / "holds.json"
    assert state_file.read(path) is None
    state_file.write_atomically(path, {"version": 1, "holds": []})
    state_file.write_atomically(path, {"version": 1, "holds": [1]})
    assert state_file.read(path) == {"version": 1, "holds": [1]}
    assert [p.name for p in path.parent.iterdir()] == ["holds.json"]   # no temporary left
    path.write_text("{half")
    assert isinstance(state_file.read(path), str)


def test_each_hold_says_why_it_began_as_a_code():
    """`cause` is what the handheld words in its banner: an engage, a lapse, a restart."""
    core = EstopCore()
    core.check_in("handheld", 0.5, now=0.0)
    core.engage("station", "station E-STOP", now=0.1)
    core.tick(now=1.0)                              # the handheld's deadline lapsed
    causes = {h.endpoint: h.cause for h in core.status().holds}
    assert causes == {"station": "engaged", "handheld": "deadline_missed"}
    restarted = EstopCore()
    restarted.restore(core.snapshot(), wall=2.0)
    assert {h.endpoint: h.cause for h in restarted.status().holds} == {
        "station": "engaged", "handheld": "deadline_missed", "boot": "restarted"}
