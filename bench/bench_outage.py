"""Broker outage under 10 Hz telemetry (+ 1 event/s): nothing lost, in order, dog RAM constant.

The dog is an `UplinkSession` in this process (outbox on disk); the station is `robot-dog
station` in its own process. The broker is stopped for `OUTAGE_S` while the dog keeps producing,
then restarted; figures: samples/events produced vs stored, order, the dog process RSS at the
start, middle and end of the outage, and the drain time after the broker returns.

    ROBOT_DOG_BENCH_OUTAGE_S=60 ./dev.sh bench outage     (default 60 s)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from robot_dog.mqtt.broker import MosquittoBroker
from robot_dog.station.storage import Storage
from robot_dog.uplink.events import EventFactory
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from robot_dog.uplink.telemetry import TelemetryState
from tests.support import free_port

OUTAGE_S = float(os.environ.get("ROBOT_DOG_BENCH_OUTAGE_S", "60"))
HZ = 10.0


def _stored(db: Path) -> int:
    import sqlite3
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT count(DISTINCT seq) FROM telemetry").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_subscribed(port: int, http_port: int, timeout_s: float = 60.0) -> None:
    """Until the station has stored a status from a warm-up dog: it is up and subscribed."""
    import json
    import urllib.request
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "patrol/v1/warmup/status",
                        "-m", "online"], check=True, timeout=10)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/fleet", timeout=5) as r:
                if any(d["dog"] == "warmup" for d in json.load(r)["dogs"]):
                    return
        except OSError:
            pass
        time.sleep(0.3)  # poll interval
    raise RuntimeError("the station never subscribed")


def run() -> dict[str, object]:
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
        work, port, http_port = Path(tmp), free_port(), free_port()
        broker = MosquittoBroker(port, work / "broker").start()
        station = subprocess.Popen([sys.executable, "-m", "robot_dog.cli", "station", "--broker-port",
                                    str(port), "--db", str(work / "st.db"), "--http-port",
                                    str(http_port), "--duration", "3600"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dog = UplinkSession(UplinkConfig("odog", port=port, state_dir=work / "dog",
                                         reconnect_s=(1.0, 2.0))).start()
        state, events = TelemetryState("odog"), EventFactory("odog")
        produced_events, rss = 0, {}
        try:
            while not dog.connected:
                time.sleep(0.05)
            _wait_subscribed(port, http_port)

            def produce(seconds: float, probe: str | None = None) -> None:
                nonlocal produced_events
                t_next = time.monotonic()
                for i in range(int(seconds * HZ)):
                    dog.put_telemetry({**state.snapshot(time.time()), "link": dog.link_section()})
                    if i % int(HZ) == 0:
                        dog.put_event(events.make(time.time(), "info", "info", "tick"))
                        produced_events += 1
                    if probe and i == int(seconds * HZ) // 2:
                        rss[f"{probe}_mid"] = me.memory_info().rss
                    t_next += 1.0 / HZ
                    time.sleep(max(0.0, t_next - time.monotonic()))

            produce(5.0)
            broker.stop()
            while dog.connected:
                time.sleep(0.05)
            rss["outage_start"] = me.memory_info().rss
            produce(OUTAGE_S, "outage")
            rss["outage_end"] = me.memory_info().rss
            backlog = len(dog.outbox)
            broker = MosquittoBroker(port, work / "broker").start()
            t0 = time.monotonic()
            while len(dog.outbox) and time.monotonic() - t0 < 300:
                time.sleep(0.1)
            drain_s = time.monotonic() - t0
            # The station reconnects on its own backoff (<= 10 s); its persistent session holds
            # what the broker accepted meanwhile. Wait until everything is committed.
            while time.monotonic() - t0 < 60 and _stored(work / "st.db") < state.seq:
                time.sleep(0.5)
            station_s = time.monotonic() - t0
        finally:
            dog.stop()
            station.terminate()
            station.wait(timeout=30)
            broker.stop()
        storage = Storage(work / "st.db")
        seqs = storage.telemetry_seqs("odog")
        stored_events = len(storage.events("odog", limit=100000))
        storage.close()
    first = list(dict.fromkeys(seqs))
    return {"outage_s": OUTAGE_S, "telemetry_produced": state.seq,
            "telemetry_lost": state.seq - len(set(seqs)),
            "telemetry_in_order": first == sorted(first), "events_produced": produced_events,
            "events_lost": produced_events - stored_events, "backlog_at_reconnect": backlog,
            "drain_s": round(drain_s, 2), "all_at_station_s": round(station_s, 2),
            "dog_rss_outage_start_mb": round(rss["outage_start"] / 1e6, 1),
            "dog_rss_outage_mid_mb": round(rss["outage_mid"] / 1e6, 1),
            "dog_rss_outage_end_mb": round(rss["outage_end"] / 1e6, 1)}
