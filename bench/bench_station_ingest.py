"""Station ingest throughput and memory against a bare paho subscriber, same broker, same run.

A publisher process (bench.mqtt_load: pre-encoded packets, so the load generator is not what
the 2 cores spend their time on) sends `DOGS` x `SAMPLES` telemetry documents (valid schema,
~400 bytes, QoS 1, each a distinct (dog, seq)) as fast as the broker takes them, three times:
to a bare paho subscriber that only counts, to the project's own BatchLink (the station's
MQTT session) that only counts and acks, and to `robot-dog station` (schema validation +
SQLite WAL, messages acknowledged after their rows are committed). So station / BatchLink
says what validation and storage cost, station / paho what the whole station costs against
the usual client. Every count is of distinct keys: the subscribers count distinct payloads,
the station distinct (dog, seq) rows, so a redelivered copy can never hide a lost message.
Rate = messages / (last - first arrival); for the station, until the last row is committed,
with zero loss required. Station RSS is sampled during its run (1,000 dogs by default).

    ROBOT_DOG_BENCH_INGEST_DOGS=1000 ROBOT_DOG_BENCH_INGEST_SAMPLES=30 ./dev.sh bench station_ingest
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from robot_dog.mqtt.broker import MosquittoBroker
from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]

DOGS = int(os.environ.get("ROBOT_DOG_BENCH_INGEST_DOGS", "1000"))
SAMPLES = int(os.environ.get("ROBOT_DOG_BENCH_INGEST_SAMPLES", "30"))
#: > 1: that many `robot-dog station --shared-group` workers (one SQLite file) instead of one.
WORKERS = int(os.environ.get("ROBOT_DOG_BENCH_INGEST_WORKERS", "1"))

BARE = r"""
import sys, time, threading, paho.mqtt.client as mqtt
port, total = int(sys.argv[1]), int(sys.argv[2])
seen, first, last, cpu0, done = set(), None, None, 0.0, threading.Event()
def on_message(c, u, m):
    global first, last, cpu0
    now = time.monotonic(); last = now
    if first is None: first, cpu0 = now, time.process_time()
    seen.add(hash(m.payload))
    if len(seen) >= total: done.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
c.on_message = on_message
c.on_connect = lambda c, *a: c.subscribe("patrol/v1/+/telemetry", qos=1)
c.on_subscribe = lambda *a: print("READY", flush=True)  # SUBACK: the subscription is in place
c.connect("127.0.0.1", port); c.loop_start()
done.wait(600)
print(len(seen), first, last, time.process_time() - cpu0, flush=True)
c.loop_stop()
"""
# The same on robot_dog.mqtt.batch_link.BatchLink: count distinct payloads, ack at once.
BATCH = r"""
import sys, time, threading
from robot_dog.mqtt.batch_link import BatchLink
from robot_dog.mqtt.client import Endpoint
port, total = int(sys.argv[1]), int(sys.argv[2])
seen, first, last, cpu0, done = set(), None, None, 0.0, threading.Event()
def on_batch(messages, ack):
    global first, last, cpu0
    now = time.monotonic(); last = now
    if first is None: first, cpu0 = now, time.process_time()
    seen.update(hash(m.payload) for m in messages)
    ack()
    if len(seen) >= total: done.set()
link = BatchLink(Endpoint("127.0.0.1", port, "bench", "", "bench-batch"), on_batch=on_batch)
link.keep_subscribed("patrol/v1/+/telemetry", qos=1)
link.start(); link.wait_connected(30); print("READY", flush=True)
done.wait(600)
print(len(seen), first, last, time.process_time() - cpu0, flush=True)
link.stop()
"""
#: The station's HTTP API needs the operator token for reads too (the warm-up polls it).
TOKEN = "bench-operator-token"


def _publish(port: int) -> None:
    subprocess.run([sys.executable, "-m", "bench.mqtt_load", str(port), str(DOGS), str(SAMPLES)],
                   check=True, timeout=900, stderr=subprocess.DEVNULL, cwd=REPO)


def _bare(port: int, total: int, script: str = BARE) -> tuple[float, float]:
    """(messages/s, CPU seconds of the subscriber process) of a counting subscriber."""
    sub = subprocess.Popen([sys.executable, "-c", script, str(port), str(total)],
                           stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert sub.stdout.readline().strip() == "READY"  # after the SUBACK
        _publish(port)
        n, first, last, cpu = sub.stdout.readline().split()
        assert int(n) == total, f"counting subscriber lost messages: {n}/{total}"
        return total / (float(last) - float(first)), float(cpu)
    finally:
        sub.kill()
        sub.wait()


def _fleet(http_port: int) -> list[dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/api/fleet",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        return json.load(urllib.request.urlopen(req, timeout=10))["dogs"]
    except OSError:
        return []


def wait_until_serving(broker_port: int, http_port: int, timeout_s: float = 60.0) -> None:
    """Until a `robot-dog station` answers /api/fleet with a dog in it: up and subscribed (a
    warm-up status message makes the dog; retried until it is seen)."""
    deadline = time.monotonic() + timeout_s
    while not _fleet(http_port) and time.monotonic() < deadline:
        subprocess.run(["mosquitto_pub", "-p", str(broker_port), "-q", "1", "-t",
                        "patrol/v1/warmup/status", "-m", "online"], check=True)
        time.sleep(0.3)


def station_env() -> dict[str, str]:
    """The environment of a benchmark's `robot-dog station`: its operator token."""
    return {**os.environ, "ROBOT_DOG_OPERATOR_TOKEN": TOKEN}


def distinct_rows(db: Path) -> int:
    """Distinct (dog, seq) telemetry rows: what was stored, copies counted once."""
    import sqlite3
    with sqlite3.connect(db, timeout=30) as con:
        return con.execute("SELECT count(*) FROM (SELECT DISTINCT dog, seq FROM telemetry)"
                           ).fetchone()[0]


def _station(port: int, total: int, work: Path) -> dict:
    http_port = free_port()
    procs = []
    for w in range(WORKERS):
        extra = ["--shared-group", "bench", "--client-id", f"station-w{w}", "--no-video"] if WORKERS > 1 else []
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "station", "--broker-port", str(port),
             "--db", str(work / "station.db"), "--http-port", str(http_port if w == 0 else 0),
             "--duration", "900", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=station_env()))
    proc = procs[0]
    ps = psutil.Process(proc.pid)
    try:
        wait_until_serving(port, http_port)
        time.sleep(1.0 if WORKERS > 1 else 0.0)  # the other workers subscribed too
        rss_idle = ps.memory_info().rss
        cpu_idle = sum(ps.cpu_times()[:2])
        db = work / "station.db"
        import sqlite3
        t0 = time.monotonic()
        _publish(port)
        rss, stored, first_rx, committed = [], 0, None, time.time()
        polls = 0
        while stored < total and time.monotonic() - t0 < 600:
            if polls % 10 == 0:
                rss.append(ps.memory_info().rss)
            polls += 1
            with sqlite3.connect(db) as con:
                # count(*) is distinct (dog, seq) rows: telemetry is unique on them (checked below)
                stored, first_rx, last_rx = con.execute(
                    "SELECT count(*), min(received), max(received) FROM telemetry").fetchone()
            committed = time.time()  # when the count was seen: 50 ms polls, not "after a sleep"
            if stored < total:
                time.sleep(0.05)
        stored = distinct_rows(db)
        return {"stored": stored, "rate": total / (committed - first_rx) if first_rx else 0.0,
                "rate_arrival": total / (last_rx - first_rx) if stored > 1 else 0.0,
                "rss_idle_mb": rss_idle / 1e6, "rss_peak_mb": max(rss) / 1e6,
                "rss_end_mb": ps.memory_info().rss / 1e6,
                "cpu_s": sum(ps.cpu_times()[:2]) - cpu_idle}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def run() -> dict[str, object]:
    total = DOGS * SAMPLES
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(free_port(), work / "broker") as broker:
            broker_conf = work / "broker" / "mosquitto.conf"
            assert broker_conf.exists()
            bare, bare_cpu = _bare(broker.port, total)
            batch, batch_cpu = _bare(broker.port, total, BATCH)
            st = _station(broker.port, total, work)
    return {"dogs": DOGS, "messages": total, "station_workers": WORKERS, "bare_paho_msg_per_s": round(bare),
            "station_msg_per_s_committed": round(st["rate"]),
            "station_msg_per_s_arrival": round(st["rate_arrival"]),
            "batchlink_msg_per_s": round(batch),
            "ratio_station_vs_bare": round(st["rate"] / bare, 3),
            "ratio_station_vs_batchlink": round(st["rate"] / batch, 3),
            "lost": total - st["stored"],
            "bare_paho_cpu_us_per_msg": round(bare_cpu / total * 1e6, 1),
            "batchlink_cpu_us_per_msg": round(batch_cpu / total * 1e6, 1),
            "station_cpu_us_per_msg": round(st["cpu_s"] / total * 1e6, 1),
            "station_rss_idle_mb": round(st["rss_idle_mb"], 1),
            "station_rss_peak_mb": round(st["rss_peak_mb"], 1),
            "station_rss_end_mb": round(st["rss_end_mb"], 1)}
