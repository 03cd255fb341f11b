"""Twist arbitration rules: exhaustively over live inputs and locks, and against a reference model
with hypothesis (random offers, locks and query times on a fake clock)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, strategies as st

from robot_dog.safety.mux import (DEFAULT_INPUTS, DEFAULT_LOCKS, InputSpec, LockSpec, TwistMux,
                                  parse_mux_config)
from robot_dog.safety.twist import Twist

LOCKS = (LockSpec("estop", 255), LockSpec("pause", 50), LockSpec("keepalive", 10, timeout_s=1.0))
PRIORITY = {s.name: s.priority for s in DEFAULT_INPUTS}


def test_default_inputs_one_per_source_from_the_yaml():
    assert [(s.name, s.topic, s.priority, s.timeout_s, s.restart) for s in DEFAULT_INPUTS] == [
        ("handheld", "teleop/handheld/cmd_vel", 100, 0.5, "neutral"),
        ("gamepad", "teleop/gamepad/cmd_vel", 90, 0.5, "neutral"),
        ("keyboard", "teleop/keyboard/cmd_vel", 80, 0.5, "neutral"),
        ("station", "station/cmd_vel", 50, 0.5, "neutral"),
        ("patrol", "patrol/cmd_vel", 10, 0.5, "resume")]
    assert [(lk.name, lk.topic, lk.priority) for lk in DEFAULT_LOCKS] == [
        ("estop", "estop", 255), ("pause", "motion/pause", 100)]


def test_a_twist_mux_file_of_ros_is_read_and_bad_ones_are_refused_with_the_reason():
    doc = {"twist_mux": {"ros__parameters": {
        "topics": {"navigation": {"topic": "nav_vel", "timeout": 0.5, "priority": 10},
                   "joystick": {"topic": "joy_vel", "timeout": 0.5, "priority": 100}},
        "locks": {"pause": {"topic": "pause_navigation", "timeout": 0.0, "priority": 100}}}}}
    inputs, locks = parse_mux_config(doc)
    assert [(s.name, s.topic, s.restart) for s in inputs] == [
        ("navigation", "nav_vel", "neutral"), ("joystick", "joy_vel", "neutral")]
    assert locks == (LockSpec("pause", 100, 0.0, "pause_navigation"),)
    for bad, words in (({"topics": {}}, "non-empty"),
                       ({"topics": {"a": {"topic": "a", "timeout": 0.5, "priority": 300}}}, "0..255"),
                       ({"topics": {"a": {"topic": "a", "timeout": 0, "priority": 3}}}, "above 0"),
                       ({"topics": {"a": {"topic": "a", "timeout": 0.5, "priority": 3,
                                          "restart": "never"}}}, "restart must be"),
                       ({"topics": {"a": {"topic": "", "timeout": 0.5, "priority": 3}}}, "topic"),
                       ({"topics": {"a": {"topic": "a", "timeout": 0.5, "priority": 3, "x": 1}}},
                        "unknown keys"),
                       ({"topics": {"a": {"topic": "a", "timeout": 0.5, "priority": 3},
                                    "b": {"topic": "b", "timeout": 0.5, "priority": 3}}}, "differ")):
        with pytest.raises(ValueError, match=words):
            parse_mux_config(bad)


@pytest.mark.parametrize("live", [c for n in range(4) for c in itertools.combinations(PRIORITY, n)])
@pytest.mark.parametrize("locked", [c for n in range(3) for c in itertools.combinations(
    ("estop", "pause"), n)])
def test_every_combination_of_live_inputs_and_locks(live, locked):
    mux = TwistMux(DEFAULT_INPUTS, LOCKS[:2])
    for name in PRIORITY:
        # live ones spoke 0.1 s ago; the others 0.6 s ago (past their 0.5 s timeout)
        mux.offer(name, Twist(vx=PRIORITY[name] / 1000), 9.9 if name in live else 9.4)
    for name in locked:
        mux.set_lock(name, True, 0.0)
    block = max((dict(estop=255, pause=50)[n] for n in locked), default=-1)
    allowed = [n for n in live if PRIORITY[n] > block]
    expected = max(allowed, key=PRIORITY.get) if allowed else None
    sel = mux.select(10.0)
    assert sel.winner == expected
    assert sel.twist == (Twist(vx=PRIORITY[expected] / 1000) if expected else None)
    if expected is None:
        assert sel.reason == ("no live input" if not live else f"locked by {', '.join(locked)}")


def test_timeout_is_inclusive_and_exact():
    mux = TwistMux(DEFAULT_INPUTS)
    mux.offer("station", Twist(0.2), 1.0)
    assert mux.select(1.5).winner == "station"
    assert mux.select(1.5000001).winner is None


def test_lock_with_timeout_engages_when_its_publisher_goes_quiet():
    mux = TwistMux(DEFAULT_INPUTS, LOCKS)
    mux.offer("patrol", Twist(0.1), 0.0)
    assert mux.select(0.1).winner == "patrol"            # never heard: not engaged
    mux.set_lock("keepalive", False, 0.1)
    mux.offer("patrol", Twist(0.1), 1.0)
    assert mux.select(1.0).winner == "patrol"
    mux.offer("patrol", Twist(0.1), 1.2)
    assert mux.select(1.2).winner is None                 # quiet for 1.1 s > 1.0 s: locked
    assert mux.select(1.2).reason == "locked by keepalive"


def test_changes_of_winner_are_reported_with_reasons():
    mux = TwistMux(DEFAULT_INPUTS)
    mux.offer("patrol", Twist(0.1), 0.0)
    mux.select(0.0)
    mux.offer("handheld", Twist(0.3), 0.1)
    mux.select(0.1)
    mux.select(0.1)                                        # no change, nothing reported
    mux.select(0.7)
    assert mux.changes() == [
        "winner none -> patrol: patrol is the highest live input (priority 10)",
        "winner patrol -> handheld: handheld is the highest live input (priority 100)",
        "winner handheld -> none: no live input"]
    assert mux.changes() == []


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="priorities must differ"):
        TwistMux((InputSpec("a", 1), InputSpec("b", 1)))
    with pytest.raises(ValueError, match="unique"):
        TwistMux((InputSpec("a", 1),), (LockSpec("a", 5),))
    with pytest.raises(KeyError):
        TwistMux(DEFAULT_INPUTS).offer("joystick", Twist(), 0.0)


ops = st.lists(st.one_of(
    st.tuples(st.just("offer"), st.sampled_from(list(PRIORITY)), st.floats(0, 2)),
    st.tuples(st.just("lock"), st.sampled_from(["estop", "pause", "keepalive"]), st.booleans()),
    st.tuples(st.just("wait"), st.floats(0, 1.5), st.none()),
), max_size=40)


@given(ops)
def test_winner_matches_the_reference_model(script):
    """Reference: the highest-priority input heard within its timeout, above every engaged lock."""
    mux = TwistMux(DEFAULT_INPUTS, LOCKS)
    now, heard, locks = 0.0, {}, {}
    for op, a, b in script:
        if op == "offer":
            mux.offer(a, Twist(b), now)
            heard[a] = (now, b)
        elif op == "lock":
            mux.set_lock(a, b, now)
            locks[a] = (b, now)
        else:
            now += a
        spec = {lk.name: lk for lk in LOCKS}
        engaged = [spec[n].priority for n, (v, t) in locks.items()
                   if v or (spec[n].timeout_s and now - t > spec[n].timeout_s)]
        block = max(engaged, default=-1)
        live = [n for n, (t, _) in heard.items() if now - t <= 0.5 and PRIORITY[n] > block]
        expected = max(live, key=PRIORITY.get) if live else None
        sel = mux.select(now)
        assert sel.winner == expected
        if expected:
            assert sel.twist == Twist(heard[expected][1])
