"""Client-certificate login for dogs (optional): the fleet CA issues each dog a certificate
(CN = dog id, client auth only); the broker's certificate listener requires one and takes the
user name from its CN, so the dog connects without a password and is held to its ACL. Real
Mosquitto. Dog side: the uplink's own session (UplinkSession, certificate instead of password),
a bare paho client and mosquitto_pub as foreign clients; the station listens on the password
listener.
"""
import queue
import re
import signal
import ssl
import subprocess

import paho.mqtt.client as paho
import pytest

from robot_dog import fleet as fleet_mod
from robot_dog.mqtt import topics
from tests import support
from tests.test_mqtt_secure_broker import WAIT_S, Inbox, links  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(make_secure_broker):
    return make_secure_broker(certs=True)


class CertClient:
    """A paho MQTT 5 client that logs in with a certificate and key, no user name/password."""

    def __init__(self, broker, cert, key, username: str | None = None) -> None:
        self.events: queue.Queue = queue.Queue()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="cert-client", protocol=paho.MQTTv5)
        if username is not None:
            c.username_pw_set(username)  # ignored by the listener: the CN is the user name
        c.tls_set(ca_certs=str(broker.ca_file), certfile=str(cert), keyfile=str(key),
                  cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.on_connect = lambda cl, ud, flags, rc, props: self.events.put(("connack", rc))
        c.on_publish = lambda cl, ud, mid, rc, props: self.events.put(("puback", mid, rc))
        c.connect(broker.host, broker.fleet.broker.cert_port)
        c.loop_start()
        self.client = c
        kind, rc = self.events.get(timeout=WAIT_S)
        assert kind == "connack" and not rc.is_failure, rc

    def publish(self, topic: str, payload: bytes):
        """-> the PUBACK reason code."""
        mid = self.client.publish(topic, payload, qos=1).mid
        while True:
            event = self.events.get(timeout=WAIT_S)
            if event[0] == "puback" and event[1] == mid:
                return event[2]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def pub(broker, port, *args, topic=topics.telemetry("dog1")):  # noqa: B008 (a str)
    """mosquitto_pub (MQTT 5, QoS 1, our CA) to `port` with extra connection arguments."""
    return subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(port), "--cafile",
                           str(broker.ca_file), "-V", "mqttv5", "-q", "1", "-t", topic, "-m", "x",
                           *args], capture_output=True, text=True, timeout=WAIT_S)


def test_a_dog_logs_in_with_its_certificate_and_no_password(broker, links):
    paths = broker.fleet.paths
    inbox = Inbox()
    station = links(broker.endpoint("station"), on_message=inbox)
    station.subscribe(f"{topics.ROOT}/#", qos=1)
    dog = CertClient(broker, paths.dog_client_cert("dog1"), paths.dog_client_key("dog1"))
    try:
        assert not dog.publish(topics.telemetry("dog1"), b"by-certificate").is_failure
        assert inbox.until(b"by-certificate")[-1] == (topics.telemetry("dog1"), b"by-certificate")
        # It is dog1 to the ACL: another dog's tree and commands are refused.
        assert dog.publish(topics.telemetry("dog2"), b"forged").is_failure
        assert dog.publish(topics.cmd("dog1", "siren"), b"forged").is_failure
    finally:
        dog.close()
    # A user name sent along changes nothing: the certificate's CN is the identity.
    dog = CertClient(broker, paths.dog_client_cert("dog1"), paths.dog_client_key("dog1"),
                     username="station")
    try:
        assert dog.publish(topics.cmd("dog2", "siren"), b"forged-command").is_failure
        assert not dog.publish(topics.events("dog1"), b"marker").is_failure
        assert inbox.until(b"marker")[-1] == (topics.events("dog1"), b"marker")
    finally:
        dog.close()
    assert "as dog1 (" in broker.log() and "u'dog1'" in broker.log()


def test_the_uplink_session_logs_in_with_the_certificate(broker, links, tmp_path):
    import time

    from robot_dog.uplink.events import EventFactory
    from robot_dog.uplink.session import UplinkConfig, UplinkSession
    paths = broker.fleet.paths
    inbox = Inbox()
    station = links(broker.endpoint("station"), on_message=inbox)
    station.subscribe(topics.all_dogs(topics.Kind.EVENTS), qos=1)
    session = UplinkSession(UplinkConfig(
        "dog1", broker.host, broker.fleet.broker.cert_port, ca_file=paths.dog_ca_cert("dog1"),
        cert_file=paths.dog_client_cert("dog1"), key_file=paths.dog_client_key("dog1"),
        state_dir=tmp_path / "uplink")).start()
    try:
        session.link.wait_connected(WAIT_S)
        session.put_event(EventFactory("dog1").make(time.time(), "info", "info",
                                                    "over the certificate listener"))
        topic, payload = inbox.q.get(timeout=WAIT_S)  # the station subscribed to events only
        assert topic == topics.events("dog1") and b"over the certificate listener" in payload
    finally:
        session.stop()
    assert "as dog1 (" in broker.log()


def test_a_certificate_from_another_ca_or_none_is_refused(broker, tmp_path):
    paths, port = broker.fleet.paths, broker.fleet.broker.cert_port
    own = ["--cert", str(paths.dog_client_cert("dog1")), "--key", str(paths.dog_client_key("dog1"))]
    assert pub(broker, port, *own).returncode == 0  # control: the same command, our certificate
    # Another CA issuing a certificate for "dog1": refused in the TLS handshake.
    other = fleet_mod.init_fleet(tmp_path / "other-fleet", ["dog1"], [], certs=True)
    forged = pub(broker, port, "--cert", str(other.paths.dog_client_cert("dog1")),
                 "--key", str(other.paths.dog_client_key("dog1")))
    assert forged.returncode != 0, forged
    # No certificate (with or without dog1's password): refused.
    assert pub(broker, port).returncode != 0
    assert pub(broker, port, "-u", "dog1", "-P", broker.password("dog1")).returncode != 0
    # The password listener is unchanged: a certificate does not replace the password there.
    assert pub(broker, broker.port, *own).returncode != 0
    assert pub(broker, broker.port, "-u", "dog1", "-P", broker.password("dog1")).returncode == 0
    log = broker.log()
    assert log.count("certificate verify failed") == 1                # the other CA's
    assert log.count("peer did not return a certificate") == 2        # none given
    assert log.count("disconnected, not authorised") == 1             # certificate, no password


def test_a_removed_dog_s_certificate_grants_nothing(broker):
    """`fleet remove-dog` + SIGHUP: the certificate still passes TLS (no CRL) but the ACL, an
    allow-list, no longer has the dog: its publishes are refused."""
    paths, port = broker.fleet.paths, broker.fleet.broker.cert_port
    kept = broker.log_path.parent / "kept"  # what a captured dog2 still holds
    kept.mkdir()
    for name in ("client.crt", "client.key"):
        (kept / name).write_bytes((paths.dog_dir("dog2") / name).read_bytes())

    def puback() -> str:
        out = pub(broker, port, "--cert", str(kept / "client.crt"), "--key", str(kept / "client.key"),
                  "-d", topic=topics.telemetry("dog2")).stdout
        return re.search(r"received PUBACK \(Mid: \d+, RC:(\d+)\)", out).group(1)

    assert puback() in ("0", "16")  # success, or success with no subscriber
    fleet_mod.remove_dogs(broker.fleet.root, ["dog2"])
    broker.process.send_signal(signal.SIGHUP)  # reload passwd and ACL
    support.wait_for(lambda: puback() == "135", "the reloaded ACL to refuse dog2", timeout_s=WAIT_S)
