"""The uplink's command deadline policy, on a fake clock: each command is answered once, by its
service or by its deadline, whichever comes first."""
import threading

import pytest

from robot_dog.uplink.commands import SERVICE_DEADLINE_S
from robot_dog.uplink.inflight import InFlight


def test_a_silent_service_is_answered_as_timeout_after_the_deadline_only():
    flight: InFlight[str] = InFlight(5.0)
    flight.start("n1", "light", now=100.0)
    assert flight.next_deadline() == 105.0
    assert flight.expire(104.9) == [] and flight.expire(105.0) == []  # not yet: now must pass it
    assert flight.expire(105.01) == ["light"]
    assert len(flight) == 0 and flight.next_deadline() is None
    assert flight.finish("n1") is None  # the late answer finds nothing: no second reply


def test_an_answer_in_time_wins_and_the_deadline_then_finds_nothing():
    flight: InFlight[str] = InFlight(5.0)
    flight.start("n1", "light", now=0.0)
    flight.start("n2", "searchlight", now=3.0)
    assert flight.finish("n1") == "light"
    assert flight.expire(6.0) == []                      # n1 answered, n2 still has until 8 s
    assert flight.expire(8.5) == ["searchlight"]


def test_deadlines_are_per_command_and_keys_are_unique():
    flight: InFlight[int] = InFlight(SERVICE_DEADLINE_S)
    for i in range(3):
        flight.start(f"n{i}", i, now=float(i))
    assert flight.expire(1.0 + SERVICE_DEADLINE_S + 0.5) == [0, 1]
    with pytest.raises(ValueError, match="already in flight"):
        flight.start("n2", 9, now=10.0)
    with pytest.raises(ValueError):
        InFlight(0.0)


def test_finish_and_expire_racing_answer_each_command_exactly_once():
    """The executor's done-callbacks and the timer run on different threads."""
    flight: InFlight[int] = InFlight(1.0)
    for i in range(2000):
        flight.start(f"n{i}", i, now=0.0)
    answered: list[int] = []
    lock = threading.Lock()

    def finisher(keys):
        for key in keys:
            item = flight.finish(key)
            if item is not None:
                with lock:
                    answered.append(item)

    def expirer():
        for _ in range(50):
            items = flight.expire(2.0)
            with lock:
                answered.extend(items)

    threads = [threading.Thread(target=finisher, args=([f"n{i}" for i in range(0, 2000, 2)],)),
               threading.Thread(target=finisher, args=([f"n{i}" for i in range(1, 2000, 2)],)),
               threading.Thread(target=expirer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered.extend(flight.expire(2.0))
    assert sorted(answered) == list(range(2000))
