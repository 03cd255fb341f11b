"""Station memory under a sustained fleet: 1,000 dogs at 10 Hz for 10 minutes.

bench.mqtt_load paces `DOGS` dogs at `HZ` samples per second (10,000 msg/s by default) into a
plain loopback Mosquitto for `SECONDS`; `robot-dog station` stores them (SQLite WAL). Station
RSS is sampled every 10 s. "Flat" = the mean RSS of the last minute against the mean of the
second minute (the first fills caches and the SQLite page cache); also reported: peak, how far
storage fell behind (messages sent but not committed, sampled), and loss at the end.

    ./dev.sh bench station_soak                                     # 10 minutes
    ROBOT_DOG_BENCH_SOAK_S=120 ./dev.sh bench station_soak          # shorter
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.bench_station_ingest import REPO, distinct_rows, station_env, wait_until_serving
from robot_dog.mqtt.broker import MosquittoBroker
from tests.support import free_port

DOGS = int(os.environ.get("ROBOT_DOG_BENCH_SOAK_DOGS", "1000"))
HZ = float(os.environ.get("ROBOT_DOG_BENCH_SOAK_HZ", "10"))
SECONDS = float(os.environ.get("ROBOT_DOG_BENCH_SOAK_S", "600"))
SAMPLE_EVERY_S = 10.0


def _stored(db: Path) -> int:
    """Rows stored, sampled while the load runs (cheap; telemetry is unique on (dog, seq), so
    rows are distinct samples; the final count below counts distinct keys explicitly)."""
    with sqlite3.connect(db, timeout=30) as con:
        return con.execute("SELECT count(*) FROM telemetry").fetchone()[0]


def run() -> dict[str, object]:
    samples = int(SECONDS * HZ)
    total = DOGS * samples
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        db = work / "station.db"
        with MosquittoBroker(free_port(), work / "broker") as broker:
            http_port = free_port()
            station = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "station", "--broker-port", str(broker.port),
                 "--db", str(db), "--http-port", str(http_port), "--duration", str(SECONDS + 600)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=station_env())
            ps = psutil.Process(station.pid)
            try:
                wait_until_serving(broker.port, http_port)
                load = subprocess.Popen([sys.executable, "-m", "bench.mqtt_load", str(broker.port),
                                         str(DOGS), str(samples), str(HZ)],
                                        stderr=subprocess.DEVNULL, cwd=REPO)
                start = time.monotonic()
                rss: list[tuple[float, float]] = []   # (t, MB)
                behind: list[float] = []              # scheduled - committed, messages
                next_sample = SAMPLE_EVERY_S
                while load.poll() is None:
                    time.sleep(0.2)
                    t = time.monotonic() - start
                    if t >= next_sample:
                        next_sample += SAMPLE_EVERY_S
                        rss.append((t, ps.memory_info().rss / 1e6))
                        behind.append(max(0.0, min(t, SECONDS) * HZ * DOGS - _stored(db)))
                assert load.returncode == 0, "load generator failed"
                load_done = time.monotonic()
                stored = _stored(db)
                while stored < total and time.monotonic() - load_done < 300:
                    time.sleep(0.2)
                    stored = _stored(db)
                drained_s = time.monotonic() - load_done
                stored = distinct_rows(db)  # lost = sent - distinct (dog, seq) stored
            finally:
                station.terminate()
                station.wait(timeout=30)
    second = [mb for t, mb in rss if 60 <= t < 120] or [rss[0][1]]
    last = [mb for t, mb in rss if t >= rss[-1][0] - 60]
    return {"dogs": DOGS, "hz": HZ, "seconds": SECONDS, "messages": total, "lost": total - stored,
            "drained_after_load_s": round(max(0.0, drained_s), 1),
            "rss_second_minute_mb": round(sum(second) / len(second), 1),
            "rss_last_minute_mb": round(sum(last) / len(last), 1),
            "rss_peak_mb": round(max(mb for _, mb in rss), 1),
            "rss_growth_last_vs_second_minute": round(sum(last) / len(last) / (sum(second) / len(second)), 3),
            "max_behind_messages": round(max(behind, default=0.0))}
