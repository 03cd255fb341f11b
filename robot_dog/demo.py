"""`robot-dog demo`: the whole stack on this machine, no hardware.

Starts a local Mosquitto from a generated config (127.0.0.1 only), the station with its viewer,
a virtual payload MCU on a pty (firmware_bridge.virtual_mcu), and the dog stack from
launch/dog.launch.yaml through the launcher. With `--headless
--duration N` it stops after N s and prints what reached the station; exit 1 if nothing did.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from robot_dog import dds_env
from robot_dog.broker import BrokerError, MosquittoBroker
from robot_dog.station.app import Station, StationConfig

_LOGGER = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
DOG_LAUNCH = REPO / "launch" / "dog.launch.yaml"


def port_or_free(preferred: int) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog demo", description=__doc__)
    parser.add_argument("--headless", action="store_true", help="no interaction; summary on exit")
    parser.add_argument("--duration", type=float, help="stop after N seconds")
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--var", type=Path, default=REPO / "var" / "demo", help="run directory")
    parser.add_argument("--launch-file", type=Path, default=DOG_LAUNCH)
    args = parser.parse_args(argv)

    args.var.mkdir(parents=True, exist_ok=True)
    db = args.var / "station.db"
    for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    broker_port, http_port = port_or_free(args.broker_port), port_or_free(args.http_port)

    broker = MosquittoBroker(broker_port, args.var / "broker")
    try:
        broker.start()
    except BrokerError as exc:
        print(f"robot-dog demo: {exc}", file=sys.stderr)
        return 1
    station = Station(StationConfig("127.0.0.1", broker_port, db, http_port)).start()
    mcu_link = args.var / "mcu"
    mcu = subprocess.Popen([sys.executable, "-m", "firmware_bridge.virtual_mcu", "--link", str(mcu_link)],
                           stdout=subprocess.DEVNULL, start_new_session=True)
    dog = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "launch", str(args.launch_file),
         f"broker_port:={broker_port}", f"state_dir:={args.var / 'uplink'}",
         f"mcu_port:={mcu_link}"],
        env=dds_env.environ(), start_new_session=True)
    print(f"\n  viewer:  http://127.0.0.1:{http_port}/\n  broker:  mqtt://127.0.0.1:{broker_port}\n"
          "  stop:    Ctrl-C\n", flush=True)
    code = 0
    try:
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            if dog.poll() is not None:
                print(f"robot-dog demo: the dog stack exited with {dog.returncode}", file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop_process_group(dog, "launcher")  # nodes first: the payload node makes the MCU safe
        stop_process_group(mcu, "virtual MCU")
        summary = station.summary()
        station.stop()
        broker.stop()
    frames = sum(d.get("frames", 0) for d in summary["stored"].values())
    telemetry = sum(d.get("telemetry", 0) for d in summary["stored"].values())
    print(json.dumps({"frames_at_station": frames, "telemetry_at_station": telemetry, **summary},
                     indent=2))
    if args.headless and (frames == 0 or telemetry == 0):
        print("robot-dog demo: no frames or no telemetry reached the station", file=sys.stderr)
        code = code or 1
    return code


def stop_process_group(proc: subprocess.Popen[bytes], name: str, timeout_s: float = 15.0) -> None:
    """SIGINT (the launcher then stops its nodes in order), SIGKILL the group as a last resort."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _LOGGER.error("%s did not stop in %.0f s; killing its process group", name, timeout_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
