"""The paho adapter against the secure broker: expiry, Last Will, PUBACK reporting, and the
outbox + forwarder delivering a backlog in order across a broker outage and a dog restart."""
from functools import partial
import queue
import socket
import ssl
import threading

import paho.mqtt.client as paho
import pytest

from robot_dog.mqtt import topics
from robot_dog.mqtt.client import (ConnectRefused, Endpoint, Link, LinkTimeout, NotConnected,
                                   status_will, wait_for_session)
from robot_dog.mqtt.forwarder import Forwarder
from robot_dog.mqtt.store_forward import Outbox, Priority
from tests import support

pytestmark = pytest.mark.slow
WAIT_S = 20.0
wait_for = partial(support.wait_for, timeout_s=WAIT_S)



def raw_station(broker, topic_filter, user="station"):
    """A plain paho client (no adapter) that records whole messages, properties included.
    One per station user: the broker binds the session to the user name."""
    got: queue.Queue = queue.Queue()
    subscribed = queue.Queue()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"raw-{user}", protocol=paho.MQTTv5)
    c.username_pw_set(user, broker.password(user))
    c.tls_set(ca_certs=str(broker.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.on_connect = lambda cl, *a: cl.subscribe(topic_filter, qos=1)
    c.on_subscribe = lambda *a: subscribed.put(True)
    c.on_message = lambda cl, ud, msg: got.put(msg)
    c.connect(broker.host, broker.port)
    c.loop_start()
    subscribed.get(timeout=WAIT_S)
    return c, got


@pytest.fixture
def cleanup():
    stack = []
    yield stack.append
    for stop in reversed(stack):
        stop()


def test_publish_sets_message_expiry_and_status_is_retained(secure_broker, cleanup):
    raw, got = raw_station(secure_broker, "patrol/v1/dog1/#")
    cleanup(raw.loop_stop)
    cleanup(raw.disconnect)
    dog = Link(secure_broker.endpoint("dog1"), will=status_will("dog1"))
    dog.start()
    cleanup(dog.stop)
    dog.wait_connected(WAIT_S)
    # Nagle off (TLS socket too): a frame's tail must not wait for the broker's delayed ACK.
    assert dog._client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    dog.publish(topics.video("dog1", "bodycam"), b"\xff\xd8jpeg", qos=0, expiry_s=2)
    msg = got.get(timeout=WAIT_S)
    assert msg.topic == topics.video("dog1", "bodycam") and msg.payload == b"\xff\xd8jpeg"
    assert msg.properties.MessageExpiryInterval <= 2  # the broker counts down, never up
    dog.publish(topics.status("dog1"), topics.ONLINE, qos=1, retain=True)
    assert got.get(timeout=WAIT_S).payload == topics.ONLINE
    # A late subscriber gets the retained status.
    late, late_got = raw_station(secure_broker, topics.status("dog1"), user="station2")
    cleanup(late.loop_stop)
    cleanup(late.disconnect)
    msg = late_got.get(timeout=WAIT_S)
    assert msg.payload == topics.ONLINE and msg.retain


def test_publish_when_down_raises_not_connected(secure_broker):
    dog = Link(secure_broker.endpoint("dog1"))
    with pytest.raises(NotConnected):
        dog.publish(topics.events("dog1"), b"x", qos=1)


def test_outbox_survives_broker_outage_and_dog_restart_in_order(secure_broker, tmp_path, cleanup):
    station_inbox: queue.Queue = queue.Queue()
    station = Link(secure_broker.endpoint("station"), reconnect_s=(1, 2),
                   on_message=lambda t, p: station_inbox.put((t, p)))
    station.start()
    cleanup(station.stop)
    station.wait_connected(WAIT_S)
    station.subscribe(topics.all_dogs(topics.Kind.EVENTS), qos=1)

    def start_dog():
        outbox = Outbox(tmp_path / "outbox.sqlite")
        holder = {}
        fwd = Forwarder(outbox, lambda t, p, q: holder["link"].publish(t, p, q), window=4)
        link = Link(secure_broker.endpoint("dog1"), reconnect_s=(1, 2),
                    on_connected=fwd.on_connected,
                    on_disconnected=lambda reason: fwd.on_disconnected(),
                    on_acked=lambda mid, ok, reason: fwd.on_acked(mid, ok))
        holder["link"] = link
        return outbox, fwd, link

    def received(n):
        return [station_inbox.get(timeout=WAIT_S)[1] for _ in range(n)]

    outbox, fwd, link = start_dog()
    for i in range(5):
        outbox.put(topics.events("dog1"), f"e{i}".encode(), 1, Priority.EVENT)
    link.start()
    link.wait_connected(WAIT_S)
    assert received(5) == [f"e{i}".encode() for i in range(5)]
    wait_for(lambda: len(outbox) == 0, "PUBACKs to empty the outbox")

    # Outage: the broker goes away; the dog keeps queuing on disk, then the dog restarts too.
    secure_broker.stop()
    wait_for(lambda: not link.connected and not station.connected, "both sides to notice")
    for i in range(5, 15):
        outbox.put(topics.events("dog1"), f"e{i}".encode(), 1, Priority.EVENT)
        fwd.pump()
    assert len(outbox) == 10
    link.stop()
    outbox.close()

    secure_broker.start()
    station.wait_connected(WAIT_S)
    station.subscribe(topics.all_dogs(topics.Kind.EVENTS), qos=1)  # SUBACK before the dog talks
    outbox, fwd, link = start_dog()
    cleanup(outbox.close)
    assert len(outbox) == 10  # the backlog survived the restart
    link.start()
    cleanup(link.stop)
    assert received(10) == [f"e{i}".encode() for i in range(5, 15)]
    wait_for(lambda: len(outbox) == 0, "the backlog to be acknowledged")
    assert fwd.refused == 0


def test_a_refusal_ends_the_wait_at_once_and_silence_at_the_deadline():
    endpoint = Endpoint("127.0.0.1", 1883, "dog1", "pw", "dog1")
    answers = iter([None, None, "Not authorized"])  # the CONNACK arrives on the third look
    with pytest.raises(ConnectRefused, match="127.0.0.1:1883: Not authorized"):
        wait_for_session(endpoint, threading.Event(), lambda: next(answers, "Not authorized"), 3600)
    with pytest.raises(LinkTimeout, match="after 0 s"):
        wait_for_session(endpoint, threading.Event(), lambda: None, 0)
    up = threading.Event()
    up.set()
    wait_for_session(endpoint, up, lambda: "stale refusal", 0)  # connected wins
