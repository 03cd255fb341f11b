"""Wrong-token throttle (station/throttle.py) on a fake clock: window, lockout, doubling, reset."""
from robot_dog.station.throttle import TokenThrottle


def test_failures_within_the_window_lock_out_and_lockouts_double():
    t = TokenThrottle(max_failures=3, window_s=60.0, lockout_s=10.0, max_lockout_s=25.0)
    assert [t.failed("a", 0.0), t.failed("a", 1.0)] == [0.0, 0.0]
    assert t.failed("a", 2.0) == 10.0 and t.retry_after("a", 5.0) == 7.0
    assert t.retry_after("b", 5.0) == 0.0, "another credential is not affected"
    for now in (13.0, 14.0):
        t.failed("a", now)
    assert t.failed("a", 15.0) == 20.0, "doubled"
    for now in (40.0, 41.0):
        t.failed("a", now)
    assert t.failed("a", 42.0) == 25.0, "capped"


def test_old_failures_expire_and_success_clears():
    t = TokenThrottle(max_failures=3, window_s=10.0, lockout_s=10.0)
    t.failed("a", 0.0)
    t.failed("a", 1.0)
    assert t.failed("a", 20.0) == 0.0, "the first two fell out of the window"
    t.failed("a", 21.0)
    t.succeeded("a")
    assert t.failed("a", 22.0) == 0.0 and t.retry_after("a", 22.0) == 0.0


def test_memory_is_bounded():
    t = TokenThrottle(max_keys=100)
    for i in range(1000):
        t.failed(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(t._records) == 100
