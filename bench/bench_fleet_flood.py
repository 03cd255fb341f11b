"""The fleet page while one dog floods: `/api/fleet` latency before, during and after a
telemetry flood from one dog, and what the station stored of it (per-dog ingest limits,
robot_dog/station/ingest_limits.py).

A plain loopback Mosquitto, `robot-dog station` in its own process (SQLite WAL), and
bench.mqtt_load as the flooding dog (`d0000`, pre-encoded QoS 1 telemetry, as fast as the
broker takes it: `FLOOD` messages). Latency: `SAMPLES` sequential GETs of /api/fleet each time,
p50 and p99 in ms. Before the limits, a 30 s flood stored 614k rows and left the page at 27.5 ms
p50 (from 1.8 ms).

    ROBOT_DOG_BENCH_FLOOD=200000 ./dev.sh bench fleet_flood
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.stats import percentile
from bench.bench_station_ingest import REPO, TOKEN, station_env, wait_until_serving
from robot_dog.mqtt.broker import MosquittoBroker
from tests.support import free_port

FLOOD = int(os.environ.get("ROBOT_DOG_BENCH_FLOOD", "200000"))
SAMPLES = 100


def _latencies_ms(http_port: int, n: int = SAMPLES) -> list[float]:
    out = []
    for _ in range(n):
        req = urllib.request.Request(f"http://127.0.0.1:{http_port}/api/fleet",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as reply:
            reply.read()
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def _pct(values: list[float], q: float) -> float:
    return round(percentile(values, q, "fleet page timings"), 2)


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(free_port(), work / "broker") as broker:
            http_port, db = free_port(), work / "station.db"
            station = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "station", "--broker-port", str(broker.port),
                 "--db", str(db), "--http-port", str(http_port), "--duration", "900"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=station_env())
            try:
                wait_until_serving(broker.port, http_port)
                before = _latencies_ms(http_port)
                during: list[float] = []
                t0 = time.monotonic()
                flood = threading.Thread(target=lambda: subprocess.run(
                    [sys.executable, "-m", "bench.mqtt_load", str(broker.port), "1", str(FLOOD)],
                    check=True, timeout=900, stderr=subprocess.DEVNULL, cwd=REPO))
                flood.start()
                while flood.is_alive():
                    during += _latencies_ms(http_port, 10)
                flood.join()
                flood_s = time.monotonic() - t0
                time.sleep(2.0)  # what the broker still held is in
                after = _latencies_ms(http_port)
                with sqlite3.connect(db, timeout=30) as con:
                    stored = con.execute("SELECT count(*) FROM telemetry WHERE dog = 'd0000'"
                                         ).fetchone()[0]
            finally:
                station.terminate()
                station.wait(timeout=30)
    return {"flood_messages": FLOOD, "flood_s": round(flood_s, 1), "flood_rows_stored": stored,
            "fleet_p50_ms_before": _pct(before, 0.5), "fleet_p99_ms_before": _pct(before, 0.99),
            "fleet_p50_ms_during": _pct(sorted(during), 0.5) if during else None,
            "fleet_p50_ms_after": _pct(after, 0.5), "fleet_p99_ms_after": _pct(after, 0.99)}
