"""Client-id takeover, against a real Mosquitto with the fleet's config (docs/security.md).

MQTT lets a new connection with a client id that is in use take that session over: the broker
disconnects the holder. Any credential, e.g. a captured dog's, could thus keep the station (or
another dog) off the broker. The fleet's mosquitto.conf sets `use_username_as_clientid true`:
the broker replaces every client id with the user name, so a credential can only take over its
own session.

"Not disconnected" without sleeping: the victim's Link reports every disconnect. Mosquitto
closes the holder's connection while it handles the intruder's CONNECT, before the intruder's
CONNACK; a message that reaches the victim after that CONNACK was read by the victim's network
thread after any disconnect of its old connection, which would have been reported first. The
control test removes the option and shows that the same steps do knock the station off.
"""
from functools import partial

import pytest

from robot_dog import fleet as fleet_mod
from robot_dog.mqtt import topics
from tests import support
from tests.test_mqtt_secure_broker import WAIT_S, Acks, Inbox, links  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=WAIT_S)
TAKEOVER = "Client {} already connected, closing old connection."  # Mosquitto's log line


class Victim:
    """A connected client that records its disconnects and what it receives."""

    def __init__(self, links, endpoint, topic_filter: str) -> None:
        self.inbox, self.disconnects = Inbox(), []
        self.link = links(endpoint, on_message=self.inbox,
                          on_disconnected=self.disconnects.append)
        self.link.subscribe(topic_filter, qos=1)


def station_victim(broker, links):
    return Victim(links, broker.endpoint("station"), f"{topics.ROOT}/#")


@pytest.mark.parametrize("victim", ["station", "dog2"])
def test_a_dog_credential_cannot_take_over_another_client(secure_broker, links, victim):
    station = station_victim(secure_broker, links)
    target = station if victim == "station" else Victim(
        links, secure_broker.endpoint("dog2"), topics.commands_of("dog2"))
    assert target.link.endpoint.client_id == victim
    acks = Acks()
    # dog1's own credential, the victim's client id: accepted, but as client "dog1".
    intruder = links(secure_broker.endpoint("dog1", client_id=victim), on_acked=acks)
    mid = intruder.publish(topics.telemetry("dog1"), b"intruder-was-here", qos=1)
    assert acks.of(mid)[1] is True
    assert station.inbox.until(b"intruder-was-here")[-1] == (topics.telemetry("dog1"),
                                                             b"intruder-was-here")
    if victim == "dog2":  # the dog still gets its commands on the session it opened
        station.link.publish(topics.cmd("dog2", "siren"), b"still-here", qos=1)
        assert target.inbox.until(b"still-here")[-1] == (topics.cmd("dog2", "siren"), b"still-here")
    assert target.disconnects == [] and station.disconnects == []
    assert target.link.connected and intruder.connected
    log = secure_broker.log()
    assert "already connected, closing old connection" not in log  # no takeover at all
    assert "as dog1 (" in log  # the broker names the intruder by its user, not the id it sent


def test_one_user_is_one_session(secure_broker, links):
    """The flip side: a second connection with the station's user takes the first one's session
    over, whatever client id it sends. So every station worker needs its own station user."""
    first = station_victim(secure_broker, links)
    second = links(secure_broker.endpoint("station", client_id="station-worker-2"))
    # Mosquitto 2.0 closes the old connection (paho reports it as "Unspecified error").
    wait_for(lambda: first.disconnects and TAKEOVER.format("station") in secure_broker.log(),
             "the first connection to be taken over")
    second.stop()  # before the first one's automatic reconnect takes the session back
    first.link.wait_connected(WAIT_S)


def test_control_without_the_option_a_dog_knocks_the_station_off(secure_broker, links):
    """The same steps on a broker without `use_username_as_clientid`: the takeover happens,
    so the tests above would see it."""
    conf = secure_broker.fleet.paths.mosquitto_conf
    text = conf.read_text()
    assert fleet_mod.SESSION_IS_USER in text
    secure_broker.stop()
    conf.write_text(text.replace(fleet_mod.SESSION_IS_USER, "# option removed by the test"))
    secure_broker.start()
    station = station_victim(secure_broker, links)
    intruder = links(secure_broker.endpoint("dog1", client_id=station.link.endpoint.client_id))
    wait_for(lambda: station.disconnects and TAKEOVER.format("station") in secure_broker.log(),
             "the station to be knocked off")
    intruder.stop()
