"""Twist arbitration rules: exhaustively over live inputs and locks, and against a reference model
with hypothesis (random offers, locks and query times on a fake clock)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, strategies as st

from robot_dog.safety.mux import DEFAULT_INPUTS, InputSpec, LockSpec, TwistMux
from robot_dog.safety.twist import Twist

LOCKS = (LockSpec("estop", 255), LockSpec("pause", 50), LockSpec("keepalive", 10, timeout_s=1.0))
PRIORITY = {s.name: s.priority for s in DEFAULT_INPUTS}


def test_default_priorities_handheld_station_patrol():
    assert [(s.name, s.priority, s.timeout_s) for s in DEFAULT_INPUTS] == [
        ("teleop", 100, 0.5), ("station", 50, 0.5), ("patrol", 10, 0.5)]


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
    mux = TwistMux()
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
    mux = TwistMux()
    mux.offer("patrol", Twist(0.1), 0.0)
    mux.select(0.0)
    mux.offer("teleop", Twist(0.3), 0.1)
    mux.select(0.1)
    mux.select(0.1)                                        # no change, nothing reported
    mux.select(0.7)
    assert mux.changes() == [
        "winner none -> patrol: patrol is the highest live input (priority 10)",
        "winner patrol -> teleop: teleop is the highest live input (priority 100)",
        "winner teleop -> none: no live input"]
    assert mux.changes() == []


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="priorities must differ"):
        TwistMux((InputSpec("a", 1), InputSpec("b", 1)))
    with pytest.raises(ValueError, match="unique"):
        TwistMux((InputSpec("a", 1),), (LockSpec("a", 5),))
    with pytest.raises(KeyError):
        TwistMux().offer("joystick", Twist(), 0.0)


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
