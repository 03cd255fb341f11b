"""How many requests of each kind the station's web server serves at once
(station/route_budget.py), pure."""
import pytest

from robot_dog.station.route_budget import OTHER, PRIORITY, SOCKET, STREAM, RouteBudget


def test_streams_sockets_and_reads_leave_the_reserved_connections_to_priority_routes():
    budget = RouteBudget(connections=6, streams=2, sockets=2, reserved=2)
    assert [budget.take(STREAM) for _ in range(3)] == [None, None, "too_many_streams"]
    assert [budget.take(SOCKET) for _ in range(3)] == [None, None, "too_many_sockets"]
    assert budget.take(OTHER) == "busy", "4 held = 6 - 2 reserved"
    assert [budget.take(PRIORITY) for _ in range(10)] == [None] * 10, "never refused"
    budget.give_back(STREAM)
    assert budget.take(OTHER) is None, "a stream ended: room for a read"


def test_sockets_have_their_own_cap():
    budget = RouteBudget(connections=64, streams=16, sockets=2, reserved=16)
    assert [budget.take(SOCKET) for _ in range(3)] == [None, None, "too_many_sockets"]
    assert budget.take(STREAM) is None and budget.take(OTHER) is None


def test_giving_back_what_was_not_taken_is_a_bug():
    budget = RouteBudget()
    with pytest.raises(ValueError):
        budget.give_back(STREAM)
    with pytest.raises(ValueError):
        budget.take("bulk")


@pytest.mark.parametrize("connections,streams,sockets,reserved",
                         [(4, 0, 1, 2), (4, 3, 1, 2), (4, 1, 3, 2), (4, 1, 1, 0)])
def test_inconsistent_limits_are_refused(connections, streams, sockets, reserved):
    with pytest.raises(ValueError):
        RouteBudget(connections, streams, sockets, reserved)
