"""A captured dog's reach at the station is bounded: per-dog ingest rates (the core on a fake
clock, then the real station and secured Mosquitto with paho as the flooding dog) and no
retained message but `status`."""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from functools import partial

import pytest

from robot_dog.mqtt import topics
from robot_dog.mqtt.topics import Kind
from robot_dog.station.app import Station, StationConfig
from robot_dog.station.ingest_limits import LIMITS, IngestLimiter, Rate
from tests import support
from tests.fixtures.accounts import api_token
from tests.support import free_port

wait_for = partial(support.wait_for, timeout_s=120.0)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


def test_a_bucket_per_dog_and_kind() -> None:
    limiter = IngestLimiter({Kind.TELEMETRY: Rate(10.0, 5.0)})
    assert [limiter.admit("dog2", Kind.TELEMETRY, 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.admit("dog1", Kind.TELEMETRY, 0.0), "another dog has its own bucket"
    assert limiter.admit("dog2", Kind.EVENTS, 0.0), "a kind without a limit passes"
    assert limiter.admit("dog2", Kind.TELEMETRY, 0.1) and not limiter.admit("dog2", Kind.TELEMETRY, 0.1)
    assert sum(limiter.admit("dog2", Kind.TELEMETRY, 100.0) for _ in range(50)) == 5  # burst cap
    assert limiter.dropped == {"telemetry": 2 + 1 + 45}


def test_tracked_buckets_are_bounded() -> None:
    limiter = IngestLimiter(max_buckets=100)
    for i in range(1000):  # station users may write cmd/result under any dog name
        limiter.admit(f"d{i}", Kind.RESULT, 0.0)
    assert len(limiter._buckets) == 100


def test_honest_rates_and_an_outage_backlog_fit() -> None:
    """What an honest dog sends, at its most, is never dropped: 10 Hz telemetry, 5 cameras at
    15 frames/s, Opus at 50 packets/s, and a 25 min outbox backlog of 2 Hz telemetry at once."""
    assert LIMITS[Kind.TELEMETRY].per_s >= 10 and LIMITS[Kind.TELEMETRY].burst >= 2 * 25 * 60
    assert LIMITS[Kind.VIDEO].per_s >= 5 * 15 and LIMITS[Kind.AUDIO].per_s >= 50
    limiter = IngestLimiter()
    admitted = [limiter.admit("dog1", Kind.TELEMETRY, 0.0) for _ in range(3000)]
    admitted += [limiter.admit("dog1", Kind.TELEMETRY, 1.0 + i / 10) for i in range(600)]
    assert all(admitted)


def telemetry(dog: str, seq: int) -> bytes:
    return json.dumps({"v": 1, "dog": dog, "seq": seq, "ts": time.time()}).encode()


@pytest.mark.slow
def test_a_flooding_dog_leaves_the_honest_dog_and_the_fleet_page_alone(secure_broker, tmp_path,
                                                                        caplog):
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    token = api_token(station.accounts)
    caplog.set_level(logging.WARNING)

    def fleet_page() -> list:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/fleet",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as reply:
            assert reply.status == 200
            return json.load(reply)["dogs"]

    honest, flooder = secure_broker.paho("dog1"), secure_broker.paho("dog2")
    try:
        wait_for(station.connected.is_set, "the station connected")
        started = time.monotonic()
        stop = threading.Event()

        def flood() -> None:
            seq = 0
            while not stop.is_set() and seq < 30_000:
                flooder.publish(topics.telemetry("dog2"), telemetry("dog2", seq), qos=1)
                seq += 1
        flooding = threading.Thread(target=flood)
        flooding.start()
        infos = []
        for seq in range(40):  # the honest dog at 10 Hz, during the flood
            infos.append(honest.publish(topics.telemetry("dog1"), telemetry("dog1", seq), qos=1))
            fleet_page()  # the page answers during the flood
            time.sleep(0.1)
        for info in infos:
            info.wait_for_publish(60)
        stop.set()
        flooding.join(120)
        wait_for(lambda: station.storage.flush() and station.storage.telemetry_seqs("dog1")
                 == list(range(40)), "every honest telemetry message stored")
        wait_for(lambda: station.limiter.dropped["telemetry"] > 1000, "the flood dropped")
        elapsed = time.monotonic() - started
        station.storage.flush()
        stored = station.storage.counts()["dog2"]["telemetry"]
        rate = LIMITS[Kind.TELEMETRY]
        assert stored <= rate.burst + rate.per_s * (elapsed + 5), stored
        assert [d["dog"] for d in fleet_page()] == ["dog1", "dog2"]
        lines = [r.getMessage() for r in caplog.records if "ingest limit" in r.getMessage()]
        assert 1 <= len(lines) <= 6, lines  # once per kind, then at the 10th, 100th, ...
    finally:
        for client in (honest, flooder):
            client.loop_stop()
            client.disconnect()
        station.stop()


@pytest.mark.slow
def test_retained_messages_outside_status_are_refused(secure_broker, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="robot_dog.security")
    dog = secure_broker.paho("dog1")
    # Retained before the station ever connects (it gets them at subscribe) ...
    for info in [dog.publish(topics.video("dog1", "front"), JPEG, qos=1, retain=True),
                 dog.publish(topics.status("dog1"), b"online", qos=1, retain=True)]:
        info.wait_for_publish(30)
    config = StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", free_port(),
                           fleet_dir=secure_broker.fleet.root)
    station = Station(config).start()
    try:
        wait_for(lambda: station.ingest.rejected["retained_outside_status"] >= 1,
                 "the retained frame refused at subscribe")
        # ... and live, while it is connected (retain-as-published keeps the flag).
        dog.publish(topics.telemetry("dog1"), telemetry("dog1", 0), qos=1, retain=True).wait_for_publish(30)
        dog.publish(topics.telemetry("dog1"), telemetry("dog1", 1), qos=1).wait_for_publish(30)
        wait_for(lambda: station.storage.flush() and station.storage.telemetry_seqs("dog1") == [1],
                 "the plain message stored, the retained one not")
        assert station.ingest.rejected["retained_outside_status"] == 2
        assert station.relay.latest("dog1", "front")[1] is None, "the retained frame not relayed"
        assert station.storage.fleet()[0]["status"] == "online", "retained status still counts"
        assert any("retained_outside_status" in r.getMessage() for r in caplog.records
                   if r.name == "robot_dog.security")
    finally:
        dog.loop_stop()
        dog.disconnect()
        station.stop()
