"""BatchLink against a real Mosquitto: batches, acks after the consumer says so, redelivery of
unacked messages after a reconnect, back-pressure by Receive Maximum, TLS + credentials, and
mosquitto_pub / mosquitto_sub as the foreign clients."""
import subprocess
import threading

import pytest

from robot_dog.mqtt.batch_link import BatchLink
from robot_dog.mqtt.client import ConnectRefused, Endpoint
from tests.support import wait_for


class Inbox:
    """Collects batches; acks them only when told to."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.messages = []
        self.acks = []
        self.lock = threading.Lock()

    def on_batch(self, batch, ack):
        with self.lock:
            self.messages += batch
            self.acks.append(ack)
        if self.auto_ack:
            ack()

    def ack_all(self):
        with self.lock:
            acks, self.acks = self.acks, []
        for ack in acks:
            ack()

    def payloads(self):
        with self.lock:
            return [m.payload for m in self.messages]


def plain(broker, client_id="batch-test", session_expiry_s=0):
    return Endpoint("127.0.0.1", broker.port, "station", "", client_id,
                    session_expiry_s=session_expiry_s, keepalive_s=5)


def pub(port, topic, *messages, extra=()):
    for m in messages:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5",
                        "-q", "1", "-t", topic, "-m", m, *extra], check=True, timeout=10)


def probe(port, inbox, topic):
    """Publish a probe on `topic`; True once it arrived (our subscription is live)."""
    pub(port, topic, "probe")
    return b"probe" in inbox.payloads()


def started(endpoint, inbox, topic_filter, **options):
    link = BatchLink(endpoint, on_batch=inbox.on_batch, **options)
    link.keep_subscribed(topic_filter, qos=1)
    link.start()
    return link


def test_receives_from_mosquitto_pub_and_publishes_to_mosquitto_sub(mosquitto):
    inbox = Inbox()
    link = started(plain(mosquitto), inbox, "patrol/v1/+/telemetry")
    try:
        link.wait_connected(10)
        wait_for(lambda: probe(mosquitto.port, inbox, "patrol/v1/probe/telemetry"), "our subscription")
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mosquitto.port),
                                "-V", "mqttv5", "-q", "1", "-t", "out/#", "-C", "1", "-v"],
                               stdout=subprocess.PIPE, text=True)
        # mosquitto_sub subscribes some time after it starts: publish until it got one (-C 1).
        wait_for(lambda: link.publish("out/cmd", b"hello", qos=1, expiry_s=5) is not None
                 and sub.poll() is not None, "mosquitto_sub receiving our publish", interval_s=0.2)
        assert sub.communicate(timeout=10)[0].strip() == "out/cmd hello"
        pub(mosquitto.port, "patrol/v1/d1/telemetry", "a", "b", "c")
        wait_for(lambda: inbox.payloads()[-3:] == [b"a", b"b", b"c"], "three messages in order")
        assert all(m.qos == 1 and m.packet_id for m in inbox.messages)
    finally:
        link.stop()


def test_unacked_messages_come_back_after_a_reconnect_acked_ones_do_not(mosquitto):
    inbox = Inbox(auto_ack=False)
    endpoint = plain(mosquitto, "batch-persistent", session_expiry_s=600)
    link = started(endpoint, inbox, "t/#")
    link.wait_connected(10)
    wait_for(lambda: probe(mosquitto.port, inbox, "t/probe"), "subscription live")
    inbox.ack_all()
    pub(mosquitto.port, "t/x", "kept-1", "kept-2")
    wait_for(lambda: inbox.payloads()[-2:] == [b"kept-1", b"kept-2"], "two unacked messages")
    link.stop()  # gone without acking: the broker keeps both in our session

    again = Inbox(auto_ack=True)
    link = started(endpoint, again, "t/#")
    try:
        wait_for(lambda: [b"kept-1", b"kept-2"] == [p for p in again.payloads() if p.startswith(b"kept")],
                 "redelivery of the unacked messages")
        assert all(m.dup for m in again.messages if m.payload.startswith(b"kept"))
    finally:
        link.stop()

    third = Inbox()
    link = started(endpoint, third, "t/#")
    try:
        pub(mosquitto.port, "t/x", "fresh")
        wait_for(lambda: b"fresh" in third.payloads(), "a new message")
        assert not [p for p in third.payloads() if p.startswith(b"kept")], "acked messages resent"
    finally:
        link.stop()


def test_receive_maximum_holds_the_broker_back_until_we_ack(mosquitto):
    inbox = Inbox(auto_ack=False)
    link = started(plain(mosquitto, "batch-window"), inbox, "w/#", receive_maximum=5)
    try:
        link.wait_connected(10)
        wait_for(lambda: probe(mosquitto.port, inbox, "w/probe"), "subscription live")
        inbox.ack_all()
        before = len(inbox.messages)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-V", "mqttv5",
                        "-q", "1", "-t", "w/x", "-l"], input="\n".join(f"m{i}" for i in range(20)),
                       text=True, check=True, timeout=10)
        wait_for(lambda: len(inbox.messages) - before == 5, "a full window")
        # mosquitto_pub has finished: the other 15 wait in the broker, not in our memory.
        assert len(inbox.messages) - before == 5
        while len(inbox.messages) - before < 20:
            n = len(inbox.messages)
            inbox.ack_all()
            wait_for(lambda n=n: len(inbox.messages) > n or len(inbox.messages) - before >= 20,
                     "the next window after our acks")
        assert inbox.payloads()[before:] == [f"m{i}".encode() for i in range(20)]
    finally:
        link.stop()


def test_tls_with_credentials_and_a_refused_password(secure_broker):
    inbox = Inbox()
    good = secure_broker.endpoint("station")
    link = started(good, inbox, "patrol/v1/+/telemetry")
    try:
        link.wait_connected(15)
        args = secure_broker.cli_args("dog1")

        def sent_and_received() -> bool:
            subprocess.run(["mosquitto_pub", *args, "-q", "1", "-t", "patrol/v1/dog1/telemetry",
                            "-m", "tls"], check=True, timeout=10)
            return b"tls" in inbox.payloads()
        wait_for(sent_and_received, "a message over TLS")
    finally:
        link.stop()

    bad = BatchLink(secure_broker.endpoint("station", password="wrong"), on_batch=inbox.on_batch)
    bad.start()
    try:
        with pytest.raises(ConnectRefused, match="Bad user name or password|Not authorized"):
            bad.wait_connected(3600)  # the CONNACK ends the wait, not the deadline
    finally:
        bad.stop()


def test_over_tls_what_waits_in_the_socket_arrives_as_one_batch(secure_broker):
    """The broker writes every message as a TLS record of its own and one recv returns one
    record: read that way, each message was a batch (and a commit callback and a PUBACK write)
    of its own, the station's main per-message cost over TLS. Held up while 100 messages
    arrive, the link hands them over in a few batches."""
    release, sizes = threading.Event(), []

    def on_batch(batch, ack):
        sizes.append(len(batch))
        ack()
        release.wait(30)   # the first batch holds the I/O thread: the rest wait in the socket

    link = BatchLink(secure_broker.endpoint("station"), on_batch=on_batch)
    link.keep_subscribed("patrol/v1/+/telemetry", qos=1)
    link.start()
    args = [*secure_broker.cli_args("dog1"), "-q", "1", "-t", "patrol/v1/dog1/telemetry"]
    try:
        link.wait_connected(15)

        def first_batch() -> bool:
            subprocess.run(["mosquitto_pub", *args, "-m", "probe"], check=True, timeout=10)
            return bool(sizes)
        wait_for(first_batch, "the subscription live")
        subprocess.run(["mosquitto_pub", *args, "-l"], input="\n".join(f"m{i}" for i in range(100)),
                       text=True, check=True, timeout=30)
        held = len(sizes)
        release.set()
        wait_for(lambda: link.messages >= held + 100, "the 100 messages")
        assert len(sizes) - held <= 10, sizes
    finally:
        release.set()
        link.stop()
