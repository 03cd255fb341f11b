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
    assert core.engage("station", "viewer button", 1.0) == "engaged by station: viewer button"
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


def test_engage_is_never_refused_even_unnamed():
    core = EstopCore()
    core.engage("", "", 0.0)
    assert core.status().holds[0].endpoint == "unnamed"


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
        assert status.engaged == bool(status.holds)
        assert set(status.stale) <= {h.endpoint for h in status.holds}
