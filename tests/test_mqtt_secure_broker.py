"""The fleet's TLS config, password file and ACL, enforced by a real Mosquitto.

Clients: robot_dog.mqtt.client (paho) and the Mosquitto command-line tools as foreign clients.
"Not delivered" is shown without sleeping: the refused message is followed by a marker on an
allowed topic from the same connection; MQTT keeps a connection's QoS 1 messages in order, so
once the marker arrives, anything sent before it would have arrived too.
"""
import queue
import select
import subprocess

import pytest

from robot_dog.mqtt import results, signing, topics
from robot_dog.mqtt.client import ConnectRefused, Link

pytestmark = pytest.mark.slow
WAIT_S = 20.0


class Inbox:
    """Collects (topic, payload) from a Link's on_message."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()

    def __call__(self, topic, payload):
        self.q.put((topic, payload))

    def until(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Everything received up to and including `payload`."""
        seen = []
        while True:
            item = self.q.get(timeout=WAIT_S)
            seen.append(item)
            if item[1] == payload:
                return seen


class Acks:
    def __init__(self):
        self.q: queue.Queue = queue.Queue()

    def __call__(self, mid, ok, reason):
        self.q.put((mid, ok, reason))

    def of(self, mid):
        while True:
            got = self.q.get(timeout=WAIT_S)
            if got[0] == mid:
                return got


@pytest.fixture
def links():
    started = []

    def make(endpoint, **kw) -> Link:
        link = Link(endpoint, **kw)
        started.append(link)
        link.start()
        link.wait_connected(WAIT_S)
        return link

    yield make
    for link in started:
        link.stop()


@pytest.fixture
def station(secure_broker, links):
    inbox = Inbox()
    link = links(secure_broker.endpoint("station"), on_message=inbox)
    link.subscribe(f"{topics.ROOT}/#", qos=1)
    return link, inbox


def test_dog_publishes_its_own_telemetry(secure_broker, links, station):
    _, inbox = station
    acks = Acks()
    dog = links(secure_broker.endpoint("dog1"), on_acked=acks)
    mid = dog.publish(topics.telemetry("dog1"), b'{"v":1}', qos=1)
    assert acks.of(mid)[1] is True
    assert inbox.until(b'{"v":1}') == [(topics.telemetry("dog1"), b'{"v":1}')]


@pytest.mark.parametrize("topic", [
    topics.telemetry("dog2"), topics.events("dog2"), topics.status("dog2"),
    topics.cmd("dog1", "siren"),  # a dog must not command itself
    topics.cmd("dog2", "siren"), "patrol/v1/other", "elsewhere/x",
    # invented camera and audio names: a captured dog cannot fill the broker's retained store
    "patrol/v1/dog1/video/cam99", "patrol/v1/dog1/audio/speaker",
    # another dog's evidence upload, and an evidence part the tree does not have
    topics.evidence("dog2", "chunk"), topics.evidence("dog2", "manifest"),
    "patrol/v1/dog1/evidence/segment",
])
def test_dog_cannot_write_outside_its_tree(secure_broker, links, station, topic):
    _, inbox = station
    acks = Acks()
    dog = links(secure_broker.endpoint("dog1"), on_acked=acks)
    mid = dog.publish(topic, b"forged", qos=1)
    ok, reason = acks.of(mid)[1:]
    assert ok is False and "authori" in reason.lower()
    dog.publish(topics.events("dog1"), b"marker", qos=1)
    assert inbox.until(b"marker") == [(topics.events("dog1"), b"marker")]


def test_dog_reads_only_its_own_commands(secure_broker, links):
    """Everything the dog must not read is routed by the broker before the one message it may
    read: each forbidden publish is acknowledged (PUBACK: the broker has routed it) before the
    marker goes out, so a leak would be queued to the dog ahead of the marker, whichever
    connection it came from."""
    inbox, dog_acks, station_acks = Inbox(), Acks(), Acks()
    station_link = links(secure_broker.endpoint("station"), on_acked=station_acks)
    dog = links(secure_broker.endpoint("dog1"), on_message=inbox, on_acked=dog_acks)
    dog.subscribe(topics.commands_of("dog1"))
    dog.subscribe(topics.commands_of("dog2"))  # Mosquitto grants it but delivers nothing
    dog.subscribe(topics.all_dogs(topics.Kind.TELEMETRY))
    mid = station_link.publish(topics.cmd("dog2", "siren"), b"for-dog2", qos=1)
    assert station_acks.of(mid)[1] is True
    # The dog may write its own telemetry, but cannot read even that back.
    mid = dog.publish(topics.telemetry("dog1"), b"own-telemetry", qos=1)
    assert dog_acks.of(mid)[1] is True
    station_link.publish(topics.cmd("dog1", "siren"), b"for-dog1", qos=1)
    assert inbox.until(b"for-dog1") == [(topics.cmd("dog1", "siren"), b"for-dog1")]


@pytest.mark.timeout(120)
def test_wrong_password_is_refused(secure_broker):
    link = Link(secure_broker.endpoint("dog1", password="not-the-password"))
    link.start()
    try:
        # Reported at CONNACK: with an hour's deadline, only the broker's answer ends the wait
        # inside the test's timeout.
        with pytest.raises(ConnectRefused, match="Bad user name or password|Not authorized"):
            link.wait_connected(3600)
    finally:
        link.stop()
    done = subprocess.run(["mosquitto_pub", *secure_broker.cli_args("dog1", password="nope"),
                           "-t", topics.telemetry("dog1"), "-m", "x", "-q", "1"],
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode != 0 and "not authorised" in (done.stdout + done.stderr).lower().replace("authorized", "authorised")


def test_unknown_user_and_plain_tcp_are_refused(secure_broker):
    done = subprocess.run(["mosquitto_pub", *secure_broker.cli_args("mallory", password="x"),
                           "-t", topics.telemetry("dog1"), "-m", "x"],
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode != 0
    # Same port without TLS: the listener only speaks TLS.
    args = secure_broker.cli_args("dog1")
    plain = [a for a in args if a not in ("--cafile", str(secure_broker.ca_file))]
    done = subprocess.run(["mosquitto_pub", *plain, "-t", topics.telemetry("dog1"), "-m", "x"],
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode != 0


def test_station_sends_a_signed_command_the_dog_verifies(secure_broker, links, station):
    station_link, station_inbox = station
    inbox = Inbox()
    dog = links(secure_broker.endpoint("dog1"), on_message=inbox)
    dog.subscribe(topics.commands_of("dog1"))
    key = signing.load_signing_key(secure_broker.command_key("dog1"))
    payload = signing.sign(key, dog="dog1", verb="siren", args={"tone": "yelp"},
                           now=1_700_000_000.0, issuer="station")
    station_link.publish(topics.cmd("dog1", "siren"), payload, qos=1)
    topic, got = inbox.until(payload)[-1]
    verifier = signing.CommandVerifier("dog1", signing.load_verify_key(secure_broker.public_key("dog1")),
                                       clock=lambda: 1_700_000_001.0)
    command = verifier.verify(got, verb=topics.parse(topic).sub)
    assert command.args == {"tone": "yelp"} and command.issuer == "station"
    # The dog answers on cmd/result, which it may write and the station reads.
    result = results.sign(signing.load_signing_key(secure_broker.fleet.paths.dog_result_key("dog1")),
                          "dog1", 1_700_000_001.0, code="ok", command=command)
    dog.publish(topics.cmd_result("dog1"), result, qos=1)
    assert station_inbox.until(result)[-1] == (topics.cmd_result("dog1"), result)


def test_foreign_clients_mosquitto_pub_and_sub(secure_broker):
    sub = subprocess.Popen(
        ["mosquitto_sub", *secure_broker.cli_args("station"), "-t", "patrol/v1/+/telemetry",
         "-q", "1", "-v", "-C", "1", "-W", str(int(WAIT_S))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The subscriber's session may not exist yet: publish (a new client each time) until
        # it has received one message and exited (-C 1).
        for _ in range(int(WAIT_S * 4)):
            pub = subprocess.run(
                ["mosquitto_pub", *secure_broker.cli_args("dog2"), "-t", topics.telemetry("dog2"),
                 "-m", "hello-from-cli", "-q", "1"], capture_output=True, text=True, timeout=WAIT_S)
            assert pub.returncode == 0, pub.stderr
            try:
                out, _ = sub.communicate(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            pytest.fail("mosquitto_sub received nothing")
        assert out.strip() == f"{topics.telemetry('dog2')} hello-from-cli"
        # A dog using the CLI is held to the same ACL: forging into dog1's tree is refused with
        # PUBACK 0x87 (non-delivery is shown with paho in test_dog_cannot_write_outside_its_tree).
        forged = subprocess.run(
            ["mosquitto_pub", *secure_broker.cli_args("dog2"), "-t", topics.events("dog1"),
             "-m", "forged", "-q", "1", "-d"], capture_output=True, text=True, timeout=WAIT_S)
        assert "RC:135" in forged.stdout
    finally:
        sub.kill()
        sub.wait(timeout=10)


def test_last_will_marks_a_vanished_dog_offline(secure_broker, station):
    station_link, inbox = station
    dog = subprocess.Popen(
        ["mosquitto_sub", *secure_broker.cli_args("dog1"), "-t", topics.commands_of("dog1"),
         "--will-topic", topics.status("dog1"), "--will-payload", "offline", "--will-retain",
         "--will-qos", "1", "-k", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # The will only exists once the dog's session does: wait until a command reaches it.
        for _ in range(int(WAIT_S * 4)):
            station_link.publish(topics.cmd("dog1", "ping"), b"ping", qos=1)
            if select.select([dog.stdout], [], [], 0.25)[0]:
                assert dog.stdout.readline().strip() == b"ping"
                break
        else:
            pytest.fail("the dog's session never came up")
        dog.kill()  # no DISCONNECT: the broker sees the socket close and sends the will
        dog.wait(timeout=10)
        assert inbox.until(b"offline")[-1] == (topics.status("dog1"), b"offline")
    finally:
        if dog.poll() is None:
            dog.kill()
        dog.wait(timeout=10)
        dog.stdout.close()
