"""The safety node's own stalls (robot_dog/safety/stall.py): a late tick defers judging once."""
import pytest

from robot_dog.safety.stall import StallGuard


def test_ticks_on_time_always_judge():
    guard = StallGuard(late_s=0.1)
    assert all(guard.tick(i * 0.02) == 0.0 for i in range(100))
    assert guard.stalls == 0


def test_a_stall_defers_judging_to_the_next_tick_only():
    guard = StallGuard(late_s=0.1)
    guard.tick(0.0)
    guard.tick(0.02)
    assert guard.tick(1.52) == pytest.approx(1.5)     # the node itself was stalled 1.5 s
    assert guard.tick(1.54) == 0.0                    # one period later: judge
    assert guard.stalls == 1 and guard.worst_s == pytest.approx(1.5)


def test_late_on_every_tick_still_judges_every_other_tick():
    guard = StallGuard(late_s=0.1)
    judged = [guard.tick(i * 0.3) == 0.0 for i in range(20)]
    assert judged[0] and sum(judged) >= 10
    assert not any(not a and not b for a, b in zip(judged, judged[1:]))   # never two deferred


def test_late_s_must_be_positive():
    with pytest.raises(ValueError):
        StallGuard(late_s=0)
