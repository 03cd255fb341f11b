"""Where one station stops keeping up: telemetry latency and backlog against the fleet's size,
over TLS as deployed and over plain loopback, with the CPU each dog costs.

For each fleet size in `STEPS`: a fresh `robot-dog station` (SQLite WAL) and `bench.mqtt_dogs`,
one MQTT connection per dog sending 10 Hz telemetry for `SECONDS`. TLS: the fleet's secured
Mosquitto (`robot-dog fleet init`: TLS listener, a password per dog and per station user, the
ACL; each dog logs in with its own credential, the station as its station user). Plain: the
demo's loopback Mosquitto (no TLS, no passwords, no ACL). Latency = the station's receipt stamp
- the dog's `ts` (one clock: same machine); behind = messages sent by the schedule and not yet
committed, sampled every second; CPU = CPU seconds per second of the station process and of
the broker during the load. The knee: the first size whose p99 is above `GOAL_P99_MS` or that
is more than one second of load behind when the load stops.

Why a station falls behind, per step: the machine's busy share (both cores, other sessions
too) and the station's three busiest threads' shares of the wall clock on a CPU and runnable
but waiting for one (bench/sched.py; py-spy names them: MQTT I/O, storage writer, web loop).
Lost = rows missing once the station has stopped adding rows for 10 s, by (dog, seq), with
what the broker (dropped-message notices), the station (over-rate and dead-letter lines) and
the PUBACKs (no subscriber) said. `ROBOT_DOG_BENCH_KNEE_KEEP=DIR` keeps the logs, the
station's summaries and the databases.

    ./dev.sh bench station_knee
    ROBOT_DOG_BENCH_KNEE_STEPS=500,1000 ROBOT_DOG_BENCH_KNEE_S=20 ROBOT_DOG_BENCH_KNEE_TLS=1 ./dev.sh bench station_knee

Kind: absolute (ms, % of a core on this machine); the TLS / plain comparison is same-run.
"""
from __future__ import annotations

import getpass
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.bench_station_ingest import REPO, station_env
from bench.mqtt_dogs import dog_name
from bench.mqtt_load import BODY
from bench import sched
from bench.stats import NoSamples, percentile
from robot_dog import fleet as fleet_mod
from robot_dog.mqtt.broker import MosquittoBroker
from tests.support import free_port

STEPS = [int(n) for n in os.environ.get("ROBOT_DOG_BENCH_KNEE_STEPS", "250,500,750,1000").split(",")]
SECONDS = float(os.environ.get("ROBOT_DOG_BENCH_KNEE_S", "20"))
HZ = float(os.environ.get("ROBOT_DOG_BENCH_KNEE_HZ", "10"))
#: "tls", "plain" or both (default).
MODES = [m for m in ("tls", "plain")
         if os.environ.get("ROBOT_DOG_BENCH_KNEE_TLS", "both") in ("both", {"tls": "1", "plain": "0"}[m])]
#: The knee's criterion (telemetry is 10 Hz: one period).
GOAL_P99_MS = 100.0
STATION_USER = "station"
KEEP = os.environ.get("ROBOT_DOG_BENCH_KNEE_KEEP", "")
WARMUP_SEQ = 10**9


def _cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    except sqlite3.Error:
        return 0


def _latencies_ms(db: Path) -> list[float]:
    with sqlite3.connect(db, timeout=30) as con:
        return [1000.0 * d for (d,) in con.execute(
            "SELECT received - json_extract(doc, '$.ts') FROM telemetry WHERE seq < ?", (WARMUP_SEQ,))]


def _drain(db: Path, rows: int, quiet_s: float = 10.0, limit_s: float = 180.0) -> float:
    """Seconds until the station committed `rows` rows, or until the count stood still for
    `quiet_s` (then what is missing is not coming: a station still catching up keeps adding)."""
    start = last_change = time.monotonic()
    seen = _rows(db)
    while seen < rows and time.monotonic() - last_change < quiet_s and time.monotonic() - start < limit_s:
        time.sleep(0.2)
        if (now := _rows(db)) != seen:
            seen, last_change = now, time.monotonic()
    return round(time.monotonic() - start, 1)


def _missing(db: Path, dogs: int, rounds: int) -> dict[str, object]:
    """Which of the (dog, seq) the generator sent have no row: how many, of how many dogs, and
    the seq range they fall in (the start of the load, its end, or all along)."""
    with sqlite3.connect(db, timeout=30) as con:
        got = set(con.execute("SELECT dog, seq FROM telemetry WHERE seq < ?", (WARMUP_SEQ,)))
    gone = [(dog_name(i), k) for i in range(dogs) for k in range(1, rounds + 1)
            if (dog_name(i), k) not in got]
    seqs = sorted(k for _, k in gone)
    return {"missing_rows": len(gone), "missing_dogs": len({d for d, _ in gone}),
            "missing_seq_range": f"{seqs[0]}-{seqs[-1]}" if seqs else "-"}


def _lines(log: Path, text: str) -> int:
    try:
        return sum(text in line for line in log.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _station_log(log: Path) -> dict[str, int]:
    """What the station said it dropped or refused (each kind is logged at its 1st, 10th,
    100th... occurrence) and how often its broker session dropped."""
    return {"station_over_rate_lines": _lines(log, "ingest limit"),
            "station_dead_letter_lines": _lines(log, "dead letter"),
            "station_disconnects": _lines(log, "disconnected from")}


def _step(dogs: int, broker_port: int, broker_pid: int, fleet_dir: Path | None, work: Path,
          broker_log: Path) -> dict[str, object]:
    db, http_port = work / f"station-{dogs}.db", free_port()
    tls = ["--fleet", str(fleet_dir), "--user", STATION_USER] if fleet_dir else []
    station = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "station", "--broker-port", str(broker_port),
         *tls, "--db", str(db), "--http-port", str(http_port), "--no-video", "--duration", "900",
         "--evidence-dir", str(work / "evidence")],
        stdout=(work / f"station-{dogs}.out").open("w"), stderr=(work / f"station-{dogs}.log").open("w"), cwd=work,
        env=station_env())
    ps, broker = psutil.Process(station.pid), psutil.Process(broker_pid)
    try:
        pub = (_fleet_pub_args(fleet_dir, broker_port) if fleet_dir else ["-p", str(broker_port)])
        _wait_subscribed(db, pub, dog_name(0))
        load = subprocess.Popen(
            [sys.executable, "-m", "bench.mqtt_dogs", str(broker_port), str(dogs), str(HZ),
             str(SECONDS), *([str(fleet_dir)] if fleet_dir else [])],
            stdout=subprocess.PIPE, text=True, cwd=REPO)
        # Connecting (TLS handshakes) takes a while: the load starts with the first row.
        base = _rows(db)
        while _rows(db) == base and load.poll() is None:
            time.sleep(0.05)
        start, cpu0, bcpu0 = time.monotonic(), _cpu(ps), _cpu(broker)
        threads0, busy0 = sched.sample(station.pid), sched.machine_busy()
        behind: list[float] = []
        gen, gen_cpu = psutil.Process(load.pid), 0.0
        while load.poll() is None:
            time.sleep(1.0)
            gen_cpu = max(gen_cpu, _cpu(gen))
            due = min(SECONDS, time.monotonic() - start) * HZ * dogs
            behind.append(max(0.0, due - (_rows(db) - base)))
        elapsed = time.monotonic() - start
        cpu, bcpu = _cpu(ps) - cpu0, _cpu(broker) - bcpu0
        threads = sched.shares(threads0, sched.sample(station.pid), elapsed)
        busy1 = sched.machine_busy()
        machine_pct = 100.0 * (busy1[0] - busy0[0]) / max(1e-9, busy1[1] - busy0[1])
        out = (load.stdout.read() if load.stdout else "").split()
        if load.returncode != 0 or len(out) != 4:
            raise NoSamples(f"the load generator failed ({load.returncode}) with {dogs} dogs")
        sent, acked, unrouted = int(out[0]), int(out[1]), int(out[2])
        drained_s = _drain(db, base + sent)
        lat = _latencies_ms(db)
        if not lat:
            tail = (work / f"station-{dogs}.log").read_text(errors="replace").splitlines()[-15:]
            raise NoSamples(f"no telemetry rows of {dogs} dogs ({sent} sent, {acked} acked by the "
                            "broker); the station's log ends:\n" + "\n".join(tail))
        p99 = percentile(lat, 0.99, f"telemetry rows of {dogs} dogs")
        behind_end = behind[-2] if len(behind) >= 2 else (behind[-1] if behind else 0.0)
        missing = _missing(db, dogs, sent // dogs)
        return {"sent": sent, "acked": acked, "acked_unrouted": unrouted, "lost": sent - (_rows(db) - base),
                **missing, "drained_s": drained_s,
                "broker_dropped_lines": _lines(broker_log, "are being dropped"),
                **_station_log(work / f"station-{dogs}.log"),
                "p50_ms": round(percentile(lat, 0.5), 1), "p99_ms": round(p99, 1),
                "max_ms": round(max(lat), 1),
                "behind_max_msgs": round(max(behind, default=0.0)),
                "behind_at_end_s": round(behind_end / (dogs * HZ), 2),
                "station_cpu_pct": round(100.0 * cpu / elapsed, 1),
                "station_cpu_pct_per_100_dogs": round(100.0 * cpu / elapsed / dogs * 100, 2),
                "broker_cpu_pct": round(100.0 * bcpu / elapsed, 1),
                # the load generator's own share (with connecting): the three share 2 cores
                "generator_cpu_pct": round(100.0 * gen_cpu / elapsed, 1),
                # both cores, everything on the machine (other sessions too)
                "machine_busy_pct": round(machine_pct, 1),
                # the station's busiest threads (py-spy: the MQTT I/O thread, then the storage
                # writer): % of the wall clock on a CPU / runnable but waiting for one
                **{f"station_thread{i + 1}_{k}": v for i, s in enumerate(threads[:3])
                   for k, v in (("run_pct", s.run_pct), ("wait_pct", s.wait_pct))},
                "kept_up": p99 <= GOAL_P99_MS and behind_end <= dogs * HZ}
    finally:
        station.terminate()
        station.wait(timeout=30)


def _wait_subscribed(db: Path, pub_args: list[str], dog: str, timeout_s: float = 60.0) -> None:
    """Until the station stored a warm-up telemetry sample of `dog` (seq WARMUP_SEQ): connected
    and subscribed to telemetry. (Its /api/fleet lists a fleet's registered dogs before it has
    connected at all, and a status can come in before the telemetry subscription.)"""
    deadline = time.monotonic() + timeout_s
    doc = f'{{"v":1,"dog":"{dog}","seq":{WARMUP_SEQ},"ts":{time.time():.3f},{BODY}}}'
    while time.monotonic() < deadline:
        subprocess.run(["mosquitto_pub", *pub_args, "-q", "1", "-t", f"patrol/v1/{dog}/telemetry",
                        "-m", doc], check=True)
        time.sleep(0.3)
        if _rows(db) > 0:
            return
    raise NoSamples(f"the station never stored {dog}'s warm-up telemetry in {timeout_s:g} s")


def _fleet_pub_args(fleet_dir: Path, port: int) -> list[str]:
    fleet = fleet_mod.load_fleet(fleet_dir)
    dog = dog_name(0)
    return ["-h", "127.0.0.1", "-p", str(port), "--cafile", str(fleet.paths.ca_cert),
            "-V", "mqttv5", "-u", dog, "-P", fleet.password(dog)]


def _sweep(mode: str, work: Path) -> dict[str, object]:
    figures: dict[str, object] = {}
    steps: dict[int, dict[str, object]] = {}
    most = max(STEPS)
    work.mkdir(parents=True, exist_ok=True)
    if mode == "tls":
        from tests.fixtures.secure_broker import SecureBroker
        port = free_port()
        fleet = fleet_mod.init_fleet(work / "fleet", [dog_name(i) for i in range(most)], [STATION_USER],
                                     fleet_mod.BrokerSettings(port=port, run_as=getpass.getuser(),
                                                              max_connections=most + 10),
                                     roles={STATION_USER: "listener"})
        broker = SecureBroker(fleet=fleet, host="127.0.0.1", port=port, log_path=work / "mosquitto.log")
        broker.start()
        try:
            assert broker.process is not None
            for dogs in STEPS:
                steps[dogs] = _step(dogs, port, broker.process.pid, fleet.root, work,
                                    work / "mosquitto.log")
        finally:
            broker.stop()
    else:
        with MosquittoBroker(free_port(), work / "plain-broker") as plain:
            assert plain.process is not None
            for dogs in STEPS:
                steps[dogs] = _step(dogs, plain.port, plain.process.pid, None, work,
                                    work / "plain-broker" / "mosquitto.log")
    for dogs, step in steps.items():
        figures.update({f"{mode}_{dogs}_dogs_{name}": value for name, value in step.items()})
    knee = next((n for n in STEPS if not steps[n]["kept_up"]), None)
    figures[f"{mode}_knee_dogs"] = knee if knee is not None else f"> {most}"
    return figures


def run() -> dict[str, object]:
    figures: dict[str, object] = {"hz": HZ, "seconds": SECONDS, "goal_p99_ms": GOAL_P99_MS}
    with tempfile.TemporaryDirectory(prefix="bench-knee-") as tmp:
        # the logs, databases and broker files of the run, kept for a look afterwards
        root = Path(KEEP) if KEEP else Path(tmp)
        for mode in MODES:
            figures.update(_sweep(mode, root / mode))
    return figures
