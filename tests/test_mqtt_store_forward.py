"""The dog's outbox: survives restart, keeps order, respects its bound, drops by policy."""
import tracemalloc

import pytest

from robot_dog.mqtt.store_forward import MessageTooLarge, Outbox, Priority, entry_size

TEL, EVT = Priority.TELEMETRY, Priority.EVENT
T = "patrol/v1/dog1/telemetry"
E = "patrol/v1/dog1/events"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "outbox.sqlite"


def payloads(outbox, limit=1000):
    return [e.payload for e in outbox.peek(limit)]


def test_fifo_peek_does_not_remove_ack_does(path):
    with Outbox(path) as box:
        ids = [box.put(E if i % 2 else T, f"m{i}".encode(), 1, EVT if i % 2 else TEL) for i in range(5)]
        assert ids == sorted(ids)
        assert payloads(box) == [b"m0", b"m1", b"m2", b"m3", b"m4"]
        assert payloads(box) == [b"m0", b"m1", b"m2", b"m3", b"m4"]  # peek is idempotent
        assert [e.payload for e in box.peek(2, after_id=ids[1])] == [b"m2", b"m3"]
        assert box.ack(ids[0]) and not box.ack(ids[0])
        assert payloads(box)[0] == b"m1" and len(box) == 4


def test_restart_keeps_backlog_order_and_accounting(path):
    box = Outbox(path)
    first = box.put(E, b"a", 1)
    box.put(T, b"bb", 0, TEL)
    box.put(E, b"ccc", 1)
    box.ack(first)
    size = box.size_bytes
    box.close()
    with Outbox(path) as again:
        entries = again.peek(10)
        assert [(e.topic, e.payload, e.qos, e.priority) for e in entries] == [
            (T, b"bb", 0, TEL), (E, b"ccc", 1, EVT)]
        assert again.size_bytes == size == entry_size(T, b"bb") + entry_size(E, b"ccc")
        assert len(again) == 2
        assert again.put(E, b"d") > entries[-1].id  # ids keep increasing after restart


def test_bound_drops_oldest_telemetry_first(path):
    unit = entry_size(T, b"x" * 100)
    with Outbox(path, max_bytes=unit * 5) as box:
        box.put(E, b"e" * (100 - len(E) + len(T)))  # same size as a telemetry sample
        for i in range(4):
            box.put(T, bytes([48 + i]) * 100, 0, TEL)
        assert box.size_bytes == unit * 5
        box.put(T, b"9" * 100, 0, TEL)
        kept = payloads(box)
        assert kept[0].startswith(b"e")  # the event survived
        assert [p[:1] for p in kept[1:]] == [b"1", b"2", b"3", b"9"]  # oldest telemetry "0" went
        assert box.size_bytes <= box.max_bytes and box.dropped == 1


def test_events_dropped_only_when_no_telemetry_left(path):
    with Outbox(path, max_bytes=entry_size(E, b"x" * 10) * 3) as box:
        box.put(T, b"t" * (10 + len(E) - len(T)), 0, TEL)
        box.put(E, b"1" * 10)
        box.put(E, b"2" * 10)
        box.put(E, b"3" * 10)  # evicts the telemetry sample
        assert [p[:1] for p in payloads(box)] == [b"1", b"2", b"3"]
        box.put(E, b"4" * 10)  # no telemetry left: the oldest event goes
        assert [p[:1] for p in payloads(box)] == [b"2", b"3", b"4"]
        assert box.dropped == 2


def test_telemetry_never_evicts_events(path):
    with Outbox(path, max_bytes=entry_size(E, b"x" * 10) * 2) as box:
        box.put(E, b"1" * 10)
        box.put(E, b"2" * 10)
        assert box.put(T, b"t" * 10, 0, TEL) is None
        assert [p[:1] for p in payloads(box)] == [b"1", b"2"] and box.dropped == 1


def test_big_event_evicts_several_small_samples_all_or_nothing(path):
    with Outbox(path, max_bytes=1000) as box:
        for _ in range(9):
            box.put(T, b"t" * 60, 0, TEL)
        box.put(E, b"E" * 500)
        assert box.size_bytes <= 1000
        assert b"E" * 500 in payloads(box)
        # Too big to fit even after every droppable message: refused without dropping anything.
        before = payloads(box)
        with pytest.raises(MessageTooLarge):
            box.put(E, b"Z" * 1001)
        assert payloads(box) == before


def test_dropped_counter_survives_restart(path):
    with Outbox(path, max_bytes=entry_size(T, b"x")) as box:
        box.put(T, b"1", 0, TEL)
        box.put(T, b"2", 0, TEL)
    with Outbox(path, max_bytes=entry_size(T, b"x")) as box:
        assert box.dropped == 1 and payloads(box) == [b"2"]


def test_backlog_is_not_held_in_memory(path):
    """RAM stays flat while the backlog grows on disk (an outage of any length)."""
    with Outbox(path, max_bytes=50 * 1024 * 1024) as box:
        blob = b"x" * 1000
        for _ in range(500):
            box.put(T, blob, 0, TEL)
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(5000):  # ~5 MB more on disk
            box.put(T, blob, 0, TEL)
        now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert box.size_bytes > 5_000_000
        assert peak - base < 500_000  # far below the 5 MB written


def test_invalid_arguments(path):
    with Outbox(path) as box:
        with pytest.raises(ValueError):
            box.put(E, b"x", qos=3)
    with pytest.raises(ValueError):
        Outbox(path, max_bytes=0)
