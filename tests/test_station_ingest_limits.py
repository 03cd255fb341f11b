"""A captured dog's reach at the station is bounded: per-dog ingest rates (the core on a fake
clock, then the real station and secured Mosquitto with paho as the flooding dog) and no
retained message but `status`."""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.request
from functools import partial

import pytest

from websockets.exceptions import ConnectionClosed

from robot_dog.mqtt import topics
from robot_dog.mqtt.topics import Kind
from robot_dog.station.app import Station, StationConfig
from robot_dog.station.ingest import event_severity
from robot_dog.station.ingest_limits import (CRITICAL_EVENTS, LIMITS, IngestLimiter, Rate,
                                             ShedNotices, lane, shed_notice)
from robot_dog.station.accounts import local_admin
from tests import support
from tests import test_station_live as live_test
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


def event(dog: str, n: int, severity: str = "info", **extra) -> bytes:
    return json.dumps({"v": 1, "dog": dog, "ts": time.time(), "id": f"flood-{n:08d}",
                       "type": "estop" if severity == "critical" else "sound",
                       "severity": severity, **extra}).encode()


def test_a_flood_of_ordinary_events_never_sheds_a_critical_one() -> None:
    """1,000 events from one dog at once, every 50th critical: the ordinary ones beyond their
    burst are dropped, every critical one passes, and another dog's events are untouched."""
    limiter = IngestLimiter()
    kept = []
    for n in range(1000):
        severity = "critical" if n % 50 == 0 else "info"
        key = lane(Kind.EVENTS, event_severity(event("dog2", n, severity)))
        if limiter.admit("dog2", key, 0.0):
            kept.append(severity)
    assert kept.count("critical") == 20
    assert kept.count("info") == LIMITS[Kind.EVENTS].burst < 980
    assert limiter.dropped == {"events": 980 - LIMITS[Kind.EVENTS].burst}
    assert limiter.admit("dog1", lane(Kind.EVENTS, "info"), 0.0), "dog1 has its own buckets"
    # The critical lane is bounded too: a captured dog may mark everything critical.
    crit = LIMITS[CRITICAL_EVENTS]
    assert sum(limiter.admit("dog3", CRITICAL_EVENTS, 0.0) for _ in range(2000)) == crit.burst


def test_only_the_events_own_severity_picks_the_critical_lane() -> None:
    assert lane(Kind.EVENTS, event_severity(event("dog1", 1, "critical"))) == CRITICAL_EVENTS
    assert lane(Kind.EVENTS, event_severity(event("dog1", 1, "warning"))) is Kind.EVENTS
    # "critical" inside data, in the text, in a payload that does not parse: ordinary lane
    assert lane(Kind.EVENTS, event_severity(event("dog1", 1, data={"severity": "critical"}))) \
        is Kind.EVENTS
    assert lane(Kind.EVENTS, event_severity(event("dog1", 1, message='"severity":"critical"'))) \
        is Kind.EVENTS
    for junk in (b'{"severity": "critical"', b"[1]", b"\xff", b'{"severity": "critical"} ' * 2000):
        assert lane(Kind.EVENTS, event_severity(junk)) is Kind.EVENTS
    assert lane(Kind.TELEMETRY, "critical") is Kind.TELEMETRY


def test_the_console_is_told_once_per_flood_and_lane() -> None:
    notices = ShedNotices(every_s=600.0)
    assert notices.due("dog2", Kind.EVENTS, 0.0)
    assert not any(notices.due("dog2", Kind.EVENTS, t / 10) for t in range(1, 1000))
    assert notices.due("dog2", CRITICAL_EVENTS, 5.0), "its critical lane is news of its own"
    assert notices.due("dog1", Kind.EVENTS, 5.0), "another dog"
    assert notices.due("dog2", Kind.EVENTS, 600.0), "a flood still going 10 min on"
    doc = shed_notice("dog2", 1.7e9, Kind.EVENTS, LIMITS[Kind.EVENTS])
    # a station alarm as link_watch's are (a dog event's fields, its own type, `origin`): the
    # alarm queue shows it as one
    assert set(doc) == {"v", "dog", "ts", "id", "type", "severity", "message", "data", "origin"}
    assert doc["severity"] == "warning" and doc["origin"] == "station" and doc["type"] == "shed"
    assert doc["data"] == {"shed": "events", "critical": False}
    assert shed_notice("dog2", 1.7e9, CRITICAL_EVENTS, LIMITS[CRITICAL_EVENTS])["severity"] \
        == "critical"


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
def test_a_burst_of_1000_events_keeps_every_critical_one_and_the_viewer_keeps_up(
        secure_broker, tmp_path, caplog):
    """dog2 publishes 1,000 events at once through the real broker, every 50th critical; dog1
    goes on with its events and telemetry, and a viewer's live socket is open. Stored and
    pushed: dog2's ordinary events up to their limit, all 20 critical ones, and one warning
    from the station that dog2's events are being shed; dog1's every message, pushed to the
    viewer within seconds; the viewer misses nothing; a handful of log lines."""
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    free_port(), fleet_dir=secure_broker.fleet.root)).start()
    station.accounts.add_account(local_admin("test"), "vera", "viewer", live_test.PASSWORD)
    caplog.set_level(logging.INFO)
    honest, flooder = secure_broker.paho("dog1"), secure_broker.paho("dog2")
    seen: list[tuple[float, dict]] = []   # (when received, live message)
    reading = threading.Event()
    reading.set()
    reader = None
    pages = contextlib.ExitStack()
    try:
        wait_for(station.connected.is_set, "the station connected")
        ws = pages.enter_context(live_test.page(station.http, live_test.login(station.http, "vera")))

        def read() -> None:
            while reading.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                if isinstance(raw, str):
                    seen.append((time.time(), json.loads(raw)))
        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: any(m["type"] == "hello" for _, m in seen), "the viewer's hello")
        started = time.monotonic()
        flood = [flooder.publish(topics.events("dog2"), event(
            "dog2", n, "critical" if n % 50 == 0 else "info"), qos=1) for n in range(1000)]
        sent_at = {}
        for n in range(10):   # dog1, honest, during the flood
            sent_at[f"honest-{n:08d}"] = time.time()
            honest.publish(topics.events("dog1"), json.dumps(
                {"v": 1, "dog": "dog1", "ts": time.time(), "id": f"honest-{n:08d}",
                 "type": "sound", "severity": "info"}).encode(), qos=1)
            honest.publish(topics.telemetry("dog1"), telemetry("dog1", n), qos=1)
            time.sleep(0.1)
        for info in flood:
            info.wait_for_publish(60)
        def flood_stored() -> int:
            station.storage.flush()
            return len([e for e in station.storage.events("dog2", 2000)
                        if e["id"].startswith("flood-")])
        wait_for(lambda: flood_stored() + station.limiter.dropped["events"] == 1000,
                 "dog2's flood taken in: each event stored or shed")
        wait_for(lambda: station.storage.flush()
                 and station.storage.telemetry_seqs("dog1") == list(range(10)),
                 "dog1's telemetry stored")
        wait_for(lambda: len([e for e in station.storage.events("dog1", 100)
                              if e["id"].startswith("honest-")]) == 10, "dog1's events stored")
        elapsed = time.monotonic() - started
        stored = station.storage.events("dog2", 2000)
        critical = sorted(e["id"] for e in stored if e["severity"] == "critical"
                          and e["id"].startswith("flood-"))
        assert critical == [f"flood-{n:08d}" for n in range(0, 1000, 50)], "every critical kept"
        ordinary = [e for e in stored if e["severity"] == "info"]
        rate = LIMITS[Kind.EVENTS]
        assert 0 < len(ordinary) <= rate.burst + rate.per_s * (elapsed + 5) < 980
        assert station.limiter.dropped["events"] == 980 - len(ordinary)
        notices = [e for e in stored if e.get("origin") == "station"]
        assert len(notices) == 1 and notices[0]["severity"] == "warning", notices

        # the viewer: dog1's events within seconds, dog2's critical ones and the notice, and
        # nothing it had to reload
        def live(dog: str) -> dict[str, float]:
            return {m["doc"]["id"]: at for at, m in seen if m["type"] == "event" and m["dog"] == dog}
        wait_for(lambda: len(live("dog1")) == 10, "dog1's events pushed")
        wait_for(lambda: set(critical) <= set(live("dog2")), "dog2's critical events pushed")
        lag = max(live("dog1")[i] - sent_at[i] for i in sent_at)
        assert lag < 5.0, f"dog1's events reached the viewer {lag:.1f} s late"
        assert notices[0]["id"] in live("dog2")
        wait_for(lambda: len(live("dog2")) == len(stored), "pushed what was stored, no more")
        assert not [m for _, m in seen if m["type"] == "missed"]
        lines = [r.getMessage() for r in caplog.records if "ingest limit" in r.getMessage()]
        assert 1 <= len(lines) <= 4 and all("dog2 sent events" in x for x in lines), lines
    finally:
        reading.clear()
        if reader is not None:
            reader.join(timeout=10)
        pages.close()
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
