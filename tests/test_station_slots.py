"""Connection admission of the station's HTTP server (station/slots.py), pure."""
import pytest

from robot_dog.station.slots import OTHER, PRIORITY, STREAM, Admission, ConnectionSlots


def test_a_new_connection_beyond_the_bound_evicts_the_longest_reading_one():
    slots = ConnectionSlots(connections=4, streams=1, reserved=2)
    assert [slots.connect(c) for c in "abcd"] == [Admission(True)] * 4
    assert slots.route("a", PRIORITY) is None, "a has its request in: no longer evictable"
    assert slots.connect("e") == Admission(True, "b"), "b has been reading longest"
    assert slots.connect("f") == Admission(True, "c")
    assert slots.route("b", OTHER) == "busy", "an evicted connection gets no route"
    slots.close("b")
    assert slots.open() == 4


def test_with_nobody_reading_a_new_connection_is_refused():
    slots = ConnectionSlots(connections=3, streams=1, reserved=1)
    for conn, kind in (("a", PRIORITY), ("b", PRIORITY), ("c", PRIORITY)):
        slots.connect(conn)
        assert slots.route(conn, kind) is None
    assert slots.connect("d") == Admission(False)
    slots.close("a")
    assert slots.connect("d") == Admission(True)


def test_streams_and_reads_leave_the_reserved_slots_to_priority_routes():
    slots = ConnectionSlots(connections=6, streams=2, reserved=2)
    for conn in "abcdef":
        slots.connect(conn)
    assert [slots.route(c, STREAM) for c in "abc"] == [None, None, "too_many_streams"]
    assert [slots.route(c, OTHER) for c in "cde"] == [None, None, "busy"]
    assert slots.route("e", PRIORITY) is None and slots.route("f", PRIORITY) is None
    slots.close("a")
    slots.connect("g")
    assert slots.route("g", STREAM) is None, "a stream ended: room for another"


def test_evicted_connections_are_bounded_too():
    slots = ConnectionSlots(connections=2, streams=1, reserved=1)
    slots.connect(0)
    slots.connect(1)
    evicted = [slots.connect(n).evict for n in range(2, 4)]
    assert evicted == [0, 1]
    assert slots.connect(4) == Admission(False), "two evicted threads still ending: wait"
    slots.close(0)
    assert slots.connect(4) == Admission(True, 2)


@pytest.mark.parametrize("connections,streams,reserved", [(4, 0, 2), (4, 3, 2), (4, 1, 0)])
def test_inconsistent_limits_are_refused(connections, streams, reserved):
    with pytest.raises(ValueError):
        ConnectionSlots(connections, streams, reserved)
