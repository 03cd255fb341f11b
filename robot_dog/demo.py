"""`robot-dog demo`: the whole stack on this machine, no hardware, on the secured path.

A fleet directory (`robot-dog fleet init`: CA, broker TLS, a credential per dog and station user,
ACL, per-dog command keys, operator token) in the run directory, reused across runs so keys and
token stay the same; a local Mosquitto from the fleet's TLS config (127.0.0.1 only); the
station with its viewer and signed commands; the simulator (launch/sim.launch.yaml: the MuJoCo
dog walking the scenario's patrol route, its rendered bodycam, the virtual payload MCU on a pty);
the dog stack from launch/dog.launch.yaml through the launcher, with the dog's fleet credentials
and the simulator's camera as the bodycam's source. With `--headless --duration N` it stops
after N s and prints what reached the station: distance walked (from the stored track), frames,
telemetry and events; exit 1 if any of them is zero.
"""
from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from robot_dog import dds_env
from robot_dog import fleet as fleet_mod
from robot_dog.broker import BrokerError, MosquittoBroker
from robot_dog.station.app import Station, StationConfig

_LOGGER = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
DOG_LAUNCH = REPO / "launch" / "dog.launch.yaml"
SIM_LAUNCH = REPO / "launch" / "sim.launch.yaml"
DOG = "dog1"
STATION_USER = "station"


def port_or_free(preferred: int) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mismatch(fleet: fleet_mod.Fleet) -> str | None:
    """Why `fleet` cannot serve the demo, or None."""
    if fleet.broker.host != "127.0.0.1":
        return f"its broker listens on {fleet.broker.host}, not 127.0.0.1"
    if DOG not in fleet.dogs or STATION_USER not in fleet.users:
        return f"it lacks dog {DOG!r} or station user {STATION_USER!r}"
    p = fleet.paths
    for path in (p.ca_cert, p.server_cert, p.server_key, p.passwd, p.acl, p.dog_ca_cert(DOG),
                 p.dog_password(DOG), p.dog_public_key(DOG), p.command_key(DOG), p.station_ca_cert(),
                 p.user_password(STATION_USER), p.operator_token):
        if not path.is_file():
            return f"{path} is missing"
    return None


def demo_fleet(root: Path, broker_port: int) -> fleet_mod.Fleet:
    """The demo's fleet in `root`: the existing one if it fits (stable keys and operator token),
    else a new one (`fleet init` with dog1 and station user "station")."""
    try:
        fleet = fleet_mod.load_fleet(root)
        reason = _mismatch(fleet)
        if reason is None:
            return fleet
    except fleet_mod.FleetError as exc:
        reason = str(exc)
    if root.exists():
        print(f"robot-dog demo: replacing {root}: {reason}", file=sys.stderr)
        shutil.rmtree(root)
    # run_as: mosquitto started as root would otherwise switch to user "mosquitto", which cannot
    # read the fleet's 0600 files.
    return fleet_mod.init_fleet(root, [DOG], [STATION_USER], fleet_mod.BrokerSettings(
        port=broker_port, run_as=getpass.getuser()))


def broker_config(fleet: fleet_mod.Fleet, port: int, log_file: Path) -> str:
    """The fleet's TLS config for this run's port (TLS listener only, 127.0.0.1), logging to
    `log_file`: MosquittoBroker reads mosquitto's stderr only if it fails to start, so a
    long run must not log there (a full pipe would stall the broker)."""
    settings = dataclasses.replace(fleet.broker, host="127.0.0.1", port=port, plain_port=None,
                                   run_as=getpass.getuser())
    return fleet_mod.mosquitto_conf_text(fleet.paths, settings).replace(
        "log_dest stderr", f"log_dest file {log_file}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog demo", description=__doc__)
    parser.add_argument("--headless", action="store_true", help="no interaction; summary on exit")
    parser.add_argument("--duration", type=float, help="stop after N seconds")
    parser.add_argument("--broker-port", type=int, default=8883, help="TLS listener")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--var", type=Path, default=REPO / "var" / "demo", help="run directory")
    parser.add_argument("--launch-file", type=Path, default=DOG_LAUNCH)
    parser.add_argument("--scenario", default="plaza_day", help="sim/scenarios name or YAML path")
    parser.add_argument("--mode", choices=("policy", "kinematic"), default="policy",
                        help="policy: the walking policy on MuJoCo physics; kinematic: the base "
                             "follows cmd_vel exactly (fast, for CI)")
    parser.add_argument("--link-faults", action="store_true",
                        help="route the uplink through the simulator's MQTT link proxy, so the "
                             "scenario's mqtt_* faults (delay, loss, bandwidth, outage) apply")
    args = parser.parse_args(argv)

    args.var.mkdir(parents=True, exist_ok=True)
    db = args.var / "station.db"
    for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    broker_port, http_port = port_or_free(args.broker_port), port_or_free(args.http_port)

    try:
        fleet = demo_fleet(args.var / "fleet", broker_port)
    except fleet_mod.FleetError as exc:
        print(f"robot-dog demo: {exc}", file=sys.stderr)
        return 1
    paths = fleet.paths
    broker_dir = args.var / "broker"
    broker = MosquittoBroker(broker_port, broker_dir,
                             config_text=broker_config(fleet, broker_port, broker_dir / "mosquitto.log"))
    try:
        broker.start()
    except BrokerError as exc:
        print(f"robot-dog demo: {exc}", file=sys.stderr)
        return 1
    try:
        station = Station(StationConfig("127.0.0.1", broker_port, db, http_port, fleet_dir=fleet.root,
                                        user=STATION_USER)).start()
    except BaseException:
        broker.stop()
        raise
    mcu_link = args.var / "mcu"
    # The simulator owns the virtual MCU's pty; the payload node retries until it appears. With
    # --link-faults it also owns the uplink's path to the broker (the uplink retries until the
    # proxy listens).
    uplink_port = free_port() if args.link_faults else broker_port
    link_args = ([f"link_upstream_port:={broker_port}", f"link_port:={uplink_port}"]
                 if args.link_faults else [])
    sim = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "launch", str(SIM_LAUNCH), f"dog:={DOG}",
         f"scenario:={args.scenario}", f"mode:={args.mode}", f"mcu_link:={mcu_link}", *link_args],
        env=dds_env.environ(), start_new_session=True)
    dog = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "launch", str(args.launch_file), f"dog:={DOG}",
         f"broker_port:={uplink_port}", f"ca_file:={paths.dog_ca_cert(DOG)}",
         f"password_file:={paths.dog_password(DOG)}",
         f"command_public_key:={paths.dog_public_key(DOG)}",
         f"state_dir:={args.var / 'uplink'}", f"mcu_port:={mcu_link}",
         "camera_source:=topic:camera/image_raw"],
        env=dds_env.environ(), start_new_session=True)
    token = paths.operator_token.read_text().strip()
    print(f"\n  viewer:  http://127.0.0.1:{http_port}/\n"
          f"  log in:  operator = a name of your choice (it goes into the audit log), e.g. officer1\n"
          f"           token    = {token}\n"
          f"                      (the file {paths.operator_token})\n"
          f"  broker:  mqtts://127.0.0.1:{broker_port}  (TLS; fleet in {fleet.root})\n"
          "  stop:    Ctrl-C\n", flush=True)
    code = 0
    completed = False   # ran its whole --duration (not interrupted, nothing exited)
    try:
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            if dog.poll() is not None or sim.poll() is not None:
                which, proc = ("dog stack", dog) if dog.poll() is not None else ("simulator", sim)
                print(f"robot-dog demo: the {which} exited with {proc.returncode}", file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
        else:
            completed = True
    except KeyboardInterrupt:
        pass
    finally:
        stop_process_group(dog, "launcher")  # nodes first: the payload node makes the MCU safe
        stop_process_group(sim, "simulator")
        summary = station.summary()
        walked = track_length(station.storage.poses(DOG))
        station.stop()
        broker.stop()
    frames = sum(d.get("frames", 0) for d in summary["stored"].values())
    telemetry = sum(d.get("telemetry", 0) for d in summary["stored"].values())
    events = sum(d.get("events", 0) for d in summary["stored"].values())
    print(json.dumps({"distance_walked_m": round(walked, 2), "frames_at_station": frames,
                      "telemetry_at_station": telemetry, "events_at_station": events, **summary},
                     indent=2))
    # Frames and telemetry must reach the station in any headless run; a run that lasted its
    # whole --duration must also have walked and seen the scenario's events.
    checks = [("frames", frames), ("telemetry", telemetry)]
    if completed:
        checks += [("distance walked", walked), ("events", events)]
    missing = [name for name, value in checks if not value]
    if args.headless and missing:
        print(f"robot-dog demo: nothing at the station for: {', '.join(missing)}", file=sys.stderr)
        code = code or 1
    return code


def track_length(poses: list[tuple[float, float]]) -> float:
    """Metres along the stored track (telemetry poses in arrival order)."""
    return sum(math.dist(a, b) for a, b in zip(poses, poses[1:]))


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
