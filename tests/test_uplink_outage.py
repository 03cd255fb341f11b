"""Store-and-forward across a broker outage, every part real: UplinkSession (outbox, forwarder,
TLS fleet credentials) -> Mosquitto (secure_broker) -> Station -> SQLite.

Deterministic: the test stops the broker, waits until the dog has noticed, queues telemetry and
events, restarts the broker, and waits (generous deadline) until every seq and every event is
stored; nothing asserts on timing. The same run restarts the dog mid-outage: the outbox on disk
carries the backlog over.
"""
from functools import partial
import time

import pytest

from robot_dog.station.app import Station, StationConfig
from robot_dog.uplink.events import EventFactory
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from robot_dog.uplink.telemetry import TelemetryState
from tests import support
from tests.support import free_port

pytestmark = pytest.mark.slow
WAIT_S = 60.0
wait_for = partial(support.wait_for, timeout_s=WAIT_S)


class Feed:
    """What a dog's ROS side would produce: telemetry samples with events among them."""

    def __init__(self, dog: str) -> None:
        self.state, self.events = TelemetryState(dog), EventFactory(dog)
        self.sent_events: list[str] = []

    def put(self, session: UplinkSession, n_telemetry: int, n_events: int) -> None:
        for i in range(n_telemetry):
            session.put_telemetry(self.state.snapshot(time.time()))
            if i < n_events:
                doc = self.events.make(time.time(), "info", "info", f"event {len(self.sent_events)}")
                self.sent_events.append(doc["id"])
                session.put_event(doc)


def dog_config(broker, tmp_path) -> UplinkConfig:
    paths = broker.fleet.paths
    return UplinkConfig(dog="dog1", host=broker.host, port=broker.port,
                        password=broker.password("dog1"), ca_file=paths.dog_ca_cert("dog1"),
                        command_public_key=paths.dog_public_key("dog1"),
                        state_dir=tmp_path / "dog1-state", reconnect_s=(1.0, 2.0))


def test_outage_loses_nothing_and_delivers_in_order(secure_broker, tmp_path):
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    0, fleet_dir=secure_broker.fleet.root)).start()
    dog = UplinkSession(dog_config(secure_broker, tmp_path)).start()
    feed = Feed("dog1")

    try:
        wait_for(lambda: dog.connected and station.connected.is_set(), "both connected")
        feed.put(dog, 20, 3)
        wait_for(lambda: len(station.storage.telemetry_seqs("dog1")) == 20, "first 20 samples")

        secure_broker.stop()
        wait_for(lambda: not dog.connected, "the dog to notice the outage")
        feed.put(dog, 100, 10)  # 10 s of 10 Hz telemetry while the broker is away
        assert len(dog.outbox) >= 110   # queued on disk, nothing published
        dog.stop()                      # the dog restarts during the outage too
        dog = UplinkSession(dog_config(secure_broker, tmp_path)).start()
        assert len(dog.outbox) >= 110
        feed.put(dog, 50, 5)

        secure_broker.start()
        wait_for(lambda: len(station.storage.telemetry_seqs("dog1")) >= 170, "the backlog")
        wait_for(lambda: len(dog.outbox) == 0, "the outbox to drain")
        station.storage.flush()
        seqs = station.storage.telemetry_seqs("dog1")
        first_seen = list(dict.fromkeys(seqs))  # at least once: a resend may repeat a sample
        assert first_seen == list(range(1, 171)), "every seq, in order"
        stored = [e for e in station.storage.events("dog1", limit=1000)   # the dog's, not the
                  if e.get("origin") != "station"]         # station's offline/online alarms
        assert sorted(e["id"] for e in stored) == sorted(feed.sent_events)
        by_arrival = [e["id"] for e in sorted(stored, key=lambda e: (e["received"], e["ts"]))]
        assert by_arrival == feed.sent_events, "events in order"
        assert dog.outbox.dropped == 0
        assert station.ingest.rejected == {}
    finally:
        dog.stop()
        station.stop()


def test_plain_broker_outage_keeps_the_station_backlog(tmp_path):
    """The demo (plain) broker, the order that lost data: the dog is back and delivers its
    whole backlog before the station reconnects. The station's persistent session (and the
    QoS 1 messages queued in it) must survive the broker restart: mosquitto started as root
    used to drop to user "mosquitto", could not write its persistence file in our 0700 data
    directory, and came back empty. Deterministic: the station is stopped (clean DISCONNECT,
    session kept) before the outage and started again only after the dog's outbox is empty."""
    from robot_dog.mqtt.broker import MosquittoBroker

    port, data_dir = free_port(), tmp_path / "broker"
    broker = MosquittoBroker(port, data_dir).start()

    def station_up() -> Station:
        return Station(StationConfig("127.0.0.1", port, tmp_path / "st.db", 0)).start()

    station = station_up()
    dog = UplinkSession(UplinkConfig("pdog", port=port, state_dir=tmp_path / "pdog",
                                     reconnect_s=(1.0, 2.0))).start()
    feed = Feed("pdog")

    try:
        wait_for(lambda: dog.connected and station.connected.is_set(), "both connected")
        feed.put(dog, 20, 2)
        wait_for(lambda: len(station.storage.telemetry_seqs("pdog")) == 20, "first 20 samples")
        station.stop()                  # station away: its session and subscriptions stay
        feed.put(dog, 10, 1)  # queued by the broker for the absent station
        wait_for(lambda: len(dog.outbox) == 0, "the broker to accept the first backlog")

        broker.stop()
        wait_for(lambda: not dog.connected, "the dog to notice the outage")
        feed.put(dog, 100, 10)  # 10 s of 10 Hz telemetry while the broker is away
        assert len(dog.outbox) >= 110

        broker = MosquittoBroker(port, data_dir).start()
        wait_for(lambda: len(dog.outbox) == 0, "the dog to deliver its backlog first")
        station = station_up()          # only now: nothing was subscribed while the dog drained
        wait_for(lambda: len(set(station.storage.telemetry_seqs("pdog"))) >= 130, "the backlog")
        station.storage.flush()
        first_seen = list(dict.fromkeys(station.storage.telemetry_seqs("pdog")))
        assert first_seen == list(range(1, 131)), "every seq, in order"
        stored = [e for e in station.storage.events("pdog", limit=1000)   # the dog's, not the
                  if e.get("origin") != "station"]         # station's offline/online alarms
        assert sorted(e["id"] for e in stored) == sorted(feed.sent_events)
        assert dog.outbox.dropped == 0
        assert station.ingest.rejected == {}
    finally:
        dog.stop()
        station.stop()
        broker.stop()
