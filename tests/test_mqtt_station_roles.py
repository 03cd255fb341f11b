"""Station users get what their role allows, enforced by a real Mosquitto: only a `listener`
hears the dogs' microphones, no station user reads the commands (a `talk` command carries its
window's voice key), a `viewer` commands nothing. Attackers: paho (robot_dog.mqtt.client)
with each station credential kind. "Not delivered" is shown without sleeping: a marker follows
on an allowed topic from the same publisher (MQTT keeps one connection's QoS 1 order)."""
from __future__ import annotations

import pytest

from robot_dog.mqtt import topics
from tests.test_mqtt_secure_broker import Acks, Inbox, links  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
USERS = ("station", "colleague", "watcher")
ROLES = {"station": "listener", "colleague": "operator", "watcher": "viewer"}


@pytest.fixture
def broker(make_secure_broker):
    return make_secure_broker(("dog1",), USERS, roles=ROLES)


def subscribed(broker, links):
    """Each station user subscribed to the whole tree: {user: (link, inbox, acks)}."""
    out = {}
    for user in USERS:
        inbox, acks = Inbox(), Acks()
        link = links(broker.endpoint(user), on_message=inbox, on_acked=acks)
        link.subscribe(f"{topics.ROOT}/#", qos=1)
        out[user] = (link, inbox, acks)
    return out


def test_only_a_listener_hears_the_microphone(broker, links):
    users = subscribed(broker, links)
    dog = links(broker.endpoint("dog1"))
    dog.publish(topics.audio("dog1", "mic"), b"mic-packet", qos=1)
    dog.publish(topics.events("dog1"), b"marker", qos=1)
    assert users["station"][1].until(b"marker") == [(topics.audio("dog1", "mic"), b"mic-packet"),
                                                   (topics.events("dog1"), b"marker")]
    for user in ("colleague", "watcher"):
        assert users[user][1].until(b"marker") == [(topics.events("dog1"), b"marker")], user


def test_no_station_user_reads_commands_and_a_viewer_sends_none(broker, links):
    users = subscribed(broker, links)
    colleague, _, colleague_acks = users["colleague"]
    mid = colleague.publish(topics.cmd("dog1", "talk"), b"talk-with-key", qos=1)
    assert colleague_acks.of(mid)[1] is True  # an operator may send commands
    dog = links(broker.endpoint("dog1"))
    dog.publish(topics.events("dog1"), b"marker", qos=1)
    for user in USERS:
        seen = [payload for _, payload in users[user][1].until(b"marker")]
        assert b"talk-with-key" not in seen, f"{user} read a command"
    watcher, _, watcher_acks = users["watcher"]
    mid = watcher.publish(topics.cmd("dog1", "estop"), b"from-a-viewer", qos=1)
    ok, reason = watcher_acks.of(mid)[1:]
    assert ok is False and "authori" in reason.lower()
