"""Forwarder: in-order delivery, removal only on PUBACK, resend after reconnect, bounded window."""
import pytest

from robot_dog.mqtt.forwarder import Forwarder, NotConnected
from robot_dog.mqtt.store_forward import Outbox, Priority

E = "patrol/v1/dog1/events"


class FakeBroker:
    """Records publishes; hands out mids like paho (increasing)."""

    def __init__(self):
        self.sent: list[tuple[int, bytes]] = []
        self.connected = True
        self.next_mid = 1
        self.ack_inside_publish = False
        self.forwarder = None

    def publish(self, topic, payload, qos):
        if not self.connected:
            raise NotConnected("down")
        mid, self.next_mid = self.next_mid, self.next_mid + 1
        self.sent.append((mid, payload))
        if self.ack_inside_publish:  # the network thread's PUBACK beats publish() returning
            self.forwarder.on_acked(mid)
        return mid


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as box:
        yield box


def fill(outbox, n, start=0):
    for i in range(start, start + n):
        outbox.put(E, f"{i}".encode(), 1, Priority.EVENT)


def test_window_and_ack_in_order(outbox):
    broker = FakeBroker()
    fwd = Forwarder(outbox, broker.publish, window=3)
    fill(outbox, 5)
    assert fwd.pump() == 0  # not connected yet
    fwd.on_connected()
    assert [p for _, p in broker.sent] == [b"0", b"1", b"2"] and fwd.in_flight == 3
    fwd.on_acked(broker.sent[0][0])
    assert len(outbox) == 4
    assert [p for _, p in broker.sent] == [b"0", b"1", b"2", b"3"]
    for mid, _ in list(broker.sent[1:]):
        fwd.on_acked(mid)
    fwd.on_acked(broker.sent[-1][0])
    assert [p for _, p in broker.sent] == [b"0", b"1", b"2", b"3", b"4"]
    assert len(outbox) == 0 and fwd.in_flight == 0


def test_unacked_messages_are_resent_after_reconnect_in_order(outbox):
    broker = FakeBroker()
    fwd = Forwarder(outbox, broker.publish, window=10)
    fill(outbox, 3)
    fwd.on_connected()
    fwd.on_acked(broker.sent[0][0])
    fwd.on_disconnected()
    broker.connected = False
    fill(outbox, 2, start=3)  # outage: queued on disk
    assert fwd.pump() == 0
    stale_mid = broker.sent[1][0]
    broker.sent.clear()
    broker.connected = True
    fwd.on_connected()
    assert [p for _, p in broker.sent] == [b"1", b"2", b"3", b"4"]
    fwd.on_acked(stale_mid)  # a PUBACK from the dead session must not remove anything
    assert len(outbox) == 4


def test_publish_failing_midway_stops_and_resumes(outbox):
    broker = FakeBroker()
    fwd = Forwarder(outbox, broker.publish, window=10)
    fill(outbox, 2)
    broker.connected = False
    fwd.on_connected()  # adapter thinks it is up, socket is not
    assert broker.sent == [] and len(outbox) == 2
    broker.connected = True
    fwd.on_connected()
    assert [p for _, p in broker.sent] == [b"0", b"1"]


def test_ack_arriving_before_publish_returns(outbox):
    broker = FakeBroker()
    broker.ack_inside_publish = True
    fwd = Forwarder(outbox, broker.publish, window=2)
    broker.forwarder = fwd
    fill(outbox, 5)
    fwd.on_connected()
    assert [p for _, p in broker.sent] == [b"0", b"1", b"2", b"3", b"4"]
    assert len(outbox) == 0 and fwd.in_flight == 0


def test_refused_message_is_dropped_not_retried_forever(outbox):
    broker = FakeBroker()
    fwd = Forwarder(outbox, broker.publish, window=1)
    fill(outbox, 2)
    fwd.on_connected()
    fwd.on_acked(broker.sent[0][0], ok=False)
    assert fwd.refused == 1
    assert [p for _, p in broker.sent] == [b"0", b"1"]


def test_foreign_acks_are_ignored(outbox):
    broker = FakeBroker()
    fwd = Forwarder(outbox, broker.publish, window=5)
    fill(outbox, 1)
    fwd.on_connected()
    fwd.on_acked(9999)  # e.g. a status publish through the same client
    assert len(outbox) == 1 and fwd.in_flight == 1
