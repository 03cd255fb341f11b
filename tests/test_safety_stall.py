"""The safety node's own stalls (robot_dog/safety/stall.py): a late tick defers judging once."""
import pytest

from robot_dog.safety.stall import CpuMark, StallGuard, where_it_went


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


def test_a_stall_says_whether_the_thread_ran_another_thread_ran_or_nothing_ran() -> None:
    before = CpuMark(thread_s=1.0, process_s=2.0, waits=10, preempted=3, queued_s=5.0)
    busy = CpuMark(thread_s=2.2, process_s=3.2, waits=10, preempted=9, queued_s=5.01)
    assert where_it_went(before, busy, 1.25) == (
        "in those 1.250 s this thread ran 1.200 s, the node's other threads 0.000 s; "
        "the thread waited 0 times, was preempted 6 times and queued for a CPU 0.010 s")
    gil = CpuMark(thread_s=1.0, process_s=3.1, waits=40, preempted=3, queued_s=5.0)
    assert "this thread ran 0.000 s, the node's other threads 1.100 s; the thread waited 30 times" \
        in where_it_went(before, gil, 1.2)
    not_scheduled = CpuMark(thread_s=1.001, process_s=2.001, waits=11, preempted=3, queued_s=6.4)
    assert where_it_went(before, not_scheduled, 1.5).endswith(
        "ran 0.001 s, the node's other threads 0.000 s; the thread waited 1 times, was preempted "
        "0 times and queued for a CPU 1.400 s")
