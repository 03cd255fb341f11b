"""`robot-dog demo`: the whole stack on this machine, no hardware, on the secured path.

A fleet directory (`robot-dog fleet init`: CA, broker TLS, a credential per dog and station user,
ACL, per-dog command keys) in the run directory, reused across runs so keys stay the same; a
fresh station database with the demo's login (the account `demo`, operator; its password kept
in var/demo.login) and an API token of it for scripts (new each run, printed and kept in
var/demo.token, both 0600); a local Mosquitto from the fleet's TLS config (127.0.0.1 only); the
station with its viewer and signed commands; the simulator (launch/sim.launch.yaml: the MuJoCo
dog walking the scenario's patrol route through the safety mux, its rendered bodycam, the virtual
payload MCU on a pty, the street's sounds played into the run's virtual PulseAudio devices); the
dog stack from launch/dog.launch.yaml through the launcher, with the
dog's fleet credentials and the simulator's camera as the bodycam's source; the officer's
handheld page (launch/teleop.launch.yaml, its certificate from the fleet CA), whose address and
a pairing code (and a QR code of both) are printed once it answers. With `--headless
--duration N` it stops after the dog patrolled N s and prints what reached the station: distance walked (from the
stored track), frames, telemetry and events; exit 1 if any of them is zero.
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
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from robot_dog.cli import command_line, ports, stopping
from robot_dog.ros import dds_env
from robot_dog.audio import devices
from robot_dog import fleet as fleet_mod
from robot_dog.mqtt.broker import BrokerError, MosquittoBroker
from robot_dog.mqtt.private_file import private_file
from robot_dog.station.accounts import Accounts, local_admin
from robot_dog.station.app import Station, StationConfig
from robot_dog.teleop.certs import issue_teleop_cert
from robot_dog.teleop.invite import invite

_LOGGER = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
DOG_LAUNCH = REPO / "launch" / "dog.launch.yaml"
SIM_LAUNCH = REPO / "launch" / "sim.launch.yaml"
TELEOP_LAUNCH = REPO / "launch" / "teleop.launch.yaml"
DOG = "dog1"  # default dog ID, also its ROS namespace
STATION_USER = "station"
DEMO_ACCOUNT = "demo"
DEMO_LOGIN_FILE = "demo.login"
DEMO_TOKEN_FILE = "demo.token"
#: The officer the demo's handheld pairing code is issued to: the demo's own login (`demo`).
DEMO_OFFICER = "demo"


def _mismatch(fleet: fleet_mod.Fleet, dog: str) -> str | None:
    """Why `fleet` cannot serve the demo, or None."""
    if fleet.broker.host != "127.0.0.1":
        return f"its broker listens on {fleet.broker.host}, not 127.0.0.1"
    if dog not in fleet.dogs or STATION_USER not in fleet.users:
        return f"it lacks dog {dog!r} or station user {STATION_USER!r}"
    if fleet.roles.get(STATION_USER) != "listener":
        return f"its station user {STATION_USER!r} may not listen in (role listener)"
    p = fleet.paths
    for path in (p.ca_cert, p.server_cert, p.server_key, p.passwd, p.acl, p.dog_ca_cert(dog),
                 p.dog_password(dog), p.dog_public_key(dog), p.command_key(dog),
                 p.dog_result_key(dog), p.result_public_key(dog), p.station_ca_cert(),
                 p.dog_evidence_key(dog),
                 p.user_password(STATION_USER)):
        if not path.is_file():
            return f"{path} is missing"
    return None


def demo_login(accounts: Accounts, var: Path) -> tuple[str, str]:
    """The demo's ready login: the account `demo` (operator) in this run's fresh database, with
    the password kept in var/demo.login (0600) so it stays the same from run to run."""
    path = var / DEMO_LOGIN_FILE
    try:
        name, password = path.read_text().splitlines()[:2]
    except (OSError, ValueError):
        name, password = DEMO_ACCOUNT, Accounts.new_password()
        private_file(path)
        path.write_text(f"{name}\n{password}\n")
    accounts.add_account(local_admin("demo"), name, "operator", password)
    return name, password


def demo_api_token(accounts: Accounts, name: str, var: Path) -> str:
    """An API token of the demo's account for scripts (curl, the benchmarks): the station keeps
    only its digest; the demo shows it once and keeps it in var/demo.token (0600, replaced
    whole: a reader never sees half of it), new each run as the database is."""
    new = accounts.create_token(local_admin("demo"), "demo scripts", name)
    part = var / (DEMO_TOKEN_FILE + ".part")
    part.unlink(missing_ok=True)
    with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(new.secret + "\n")
    os.replace(part, var / DEMO_TOKEN_FILE)
    return new.secret


def demo_fleet(root: Path, broker_port: int, dog: str = DOG) -> fleet_mod.Fleet:
    """The demo's fleet in `root`: the existing one if it fits (stable keys), else a new one
    (`fleet init` with dog1 and station user "station"). The shared operator token of a demo
    fleet made before accounts is deleted: the demo's login and API token replace it."""
    try:
        fleet = fleet_mod.load_fleet(root)
        reason = _mismatch(fleet, dog)
        if reason is None:
            if fleet.paths.operator_token.exists():
                fleet.paths.operator_token.unlink()
                print(f"robot-dog demo: deleted the old shared {fleet.paths.operator_token}: "
                      f"scripts use the demo's API token ({DEMO_TOKEN_FILE})", file=sys.stderr)
            return fleet
    except fleet_mod.FleetError as exc:
        reason = str(exc)
    if root.exists():
        print(f"robot-dog demo: replacing {root}: {reason}", file=sys.stderr)
        shutil.rmtree(root)
    # run_as: mosquitto started as root would otherwise switch to user "mosquitto", which cannot
    # read the fleet's 0600 files.
    return fleet_mod.init_fleet(root, [dog], [STATION_USER], fleet_mod.BrokerSettings(
        port=broker_port, run_as=getpass.getuser()), roles={STATION_USER: "listener"})


def broker_config(fleet: fleet_mod.Fleet, port: int, log_file: Path) -> str:
    """The fleet's TLS config for this run's port (TLS listener only, 127.0.0.1), logging to
    `log_file`: MosquittoBroker reads mosquitto's stderr only if it fails to start, so a
    long run must not log there (a full pipe would stall the broker)."""
    settings = dataclasses.replace(fleet.broker, host="127.0.0.1", port=port, plain_port=None,
                                   run_as=getpass.getuser())
    return fleet_mod.mosquitto_conf_text(fleet.paths, settings).replace(
        "log_dest stderr", f"log_dest file {log_file}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-dog demo", description=__doc__,
                                     formatter_class=command_line.HelpFormatter)
    parser.add_argument("--headless", action="store_true",
                        help="no interaction: print what reached the station on exit, exit 1 if "
                             "no frames or telemetry did")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after the dog has patrolled S seconds (the start-up before the "
                             "patrol is resumed is not counted; default: run until Ctrl-C or SIGTERM)")
    parser.add_argument("--startup-timeout", type=float, default=240.0, metavar="S",
                        help="with --duration: exit 1 if the patrol has not been resumed after S "
                             "seconds (default %(default)s)")
    parser.add_argument("--broker-port", type=int, default=8883, metavar="PORT",
                        help="the broker's TLS listener on 127.0.0.1 (0: any free port)")
    parser.add_argument("--http-port", type=int, default=8080, metavar="PORT",
                        help="the viewer on 127.0.0.1 (0: any free port)")
    parser.add_argument("--handheld-port", type=int, default=8443, metavar="PORT",
                        help="the officer's handheld page (HTTPS) on 127.0.0.1 (0: any free port)")
    parser.add_argument("--var", type=Path, default=REPO / "var" / "demo", metavar="DIR",
                        help="run directory: fleet (reused), broker data, station database, "
                             "uplink outbox, the virtual MCU's pty link")
    parser.add_argument("--launch-file", type=Path, default=DOG_LAUNCH, metavar="FILE",
                        help="the dog stack's launch file")
    parser.add_argument("--dog", default=DOG, metavar="NAME",
                        help="the dog's ID, also its ROS namespace")
    parser.add_argument("--scenario", default="plaza_day", metavar="NAME_OR_FILE",
                        help="a scenario of sim/scenarios by name, or a YAML file")
    parser.add_argument("--mode", choices=("policy", "kinematic"), default="policy",
                        help="policy: the walking policy on MuJoCo physics; kinematic: the base "
                             "follows cmd_vel exactly (fast, for CI)")
    parser.add_argument("--link-faults", action="store_true",
                        help="route the uplink through the simulator's MQTT link proxy, so the "
                             "scenario's mqtt_* faults (delay, loss, bandwidth, outage) apply")
    return parser


#: How long the demo waits for the simulator to make the virtual MCU's pty before it starts the
#: dog stack anyway (then payload_node waits for it and the dog starts held for `mcu`), s.
MCU_LINK_WAIT_S = 120.0


class Demo:
    """What the demo started, so that a stop at any moment of start-up stops exactly that."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.broker: MosquittoBroker | None = None
        self.station: Station | None = None
        self.sim: subprocess.Popen[bytes] | None = None
        self.dog: subprocess.Popen[bytes] | None = None
        self.handheld: subprocess.Popen[bytes] | None = None
        self._pairing: subprocess.Popen[str] | None = None   # a `teleop pair` under way
        self._stopping = False
        self.completed = False  # ran its whole --duration (not interrupted, nothing exited)
        self.walked_m = 0.0
        self.patrolling = threading.Event()  # the scripted operator resumed the patrol
        self.audio: devices.VirtualAudio | None = None

    def start(self) -> int:
        """Start everything; 0 when up, else 1 after one line saying why."""
        args = self.args
        args.var.mkdir(parents=True, exist_ok=True)
        db = args.var / "station.db"
        for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
            stale.unlink(missing_ok=True)
        broker_port = args.broker_port or ports.any_free_port()
        handheld_port = args.handheld_port or ports.any_free_port()
        for what, port, option in (("broker", broker_port, "--broker-port"),
                                   ("viewer", args.http_port, "--http-port"),
                                   ("handheld", handheld_port, "--handheld-port")):
            if port and (reason := ports.bind_problem(port)):
                print(f"robot-dog demo: {ports.in_use(what, port, option, reason)}", file=sys.stderr)
                return 1
        try:
            fleet = demo_fleet(args.var / "fleet", broker_port, args.dog)
            cert, key = issue_teleop_cert(fleet.root, args.dog)
        except (fleet_mod.FleetError, OSError) as exc:
            print(f"robot-dog demo: {exc}", file=sys.stderr)
            return 1
        paths = fleet.paths
        broker_dir = args.var / "broker"
        self.broker = MosquittoBroker(broker_port, broker_dir, config_text=broker_config(
            fleet, broker_port, broker_dir / "mosquitto.log"))
        try:
            self.broker.start()
        except BrokerError as exc:
            print(f"robot-dog demo: {exc}", file=sys.stderr)
            return 1
        try:
            self.station = Station(StationConfig("127.0.0.1", broker_port, db, args.http_port,
                                                 fleet_dir=fleet.root, user=STATION_USER))
        except OSError as exc:  # the viewer's port, taken since the check above
            print(f"robot-dog demo: {ports.in_use('viewer', args.http_port, '--http-port', exc.strerror)}",
                  file=sys.stderr)
            return 1
        self.station.start()
        mcu_link = args.var / "mcu"
        # The run's own PulseAudio daemon and devices, made before any node starts: the simulator
        # plays the street into it, the megaphone and microphone nodes find it through the
        # environment the children inherit (no race between nodes starting it, no device shared
        # with another run on this machine).
        try:
            with stopping.deferred():  # a stop in the middle would leave the daemon running
                self.audio = devices.ensure_virtual_devices(args.var / "audio")
        except devices.AudioDeviceError as exc:
            print(f"robot-dog demo: no virtual audio, running silent: {exc}", file=sys.stderr)
        # The simulator owns the virtual MCU's pty; the payload node retries until it appears.
        # With --link-faults it also owns the uplink's path to the broker (the uplink retries
        # until the proxy listens).
        uplink_port = ports.any_free_port() if args.link_faults else broker_port
        link_args = ([f"link_upstream_port:={broker_port}", f"link_port:={uplink_port}"]
                     if args.link_faults else [])
        with stopping.deferred():  # a stop inside Popen would lose the child
            self.sim = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "launch", str(SIM_LAUNCH), f"dog:={args.dog}",
                 f"scenario:={args.scenario}", f"mode:={args.mode}", f"mcu_link:={mcu_link}",
                 *link_args], env=dds_env.environ(), start_new_session=True)
        # The dog stack starts once the simulator's MCU pty is there: a payload_node that finds
        # no MCU holds the dog for `mcu` (docs/safety.md), which only a person on the dog
        # releases, and a simulator slow to start on a loaded machine left the demo waiting for
        # a release the station cannot give (seen in CI: the patrol never started).
        deadline = time.monotonic() + MCU_LINK_WAIT_S
        while not mcu_link.exists() and self.sim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with stopping.deferred():
            self.dog = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "launch", str(args.launch_file),
                 f"dog:={args.dog}", f"broker_port:={uplink_port}",
                 f"ca_file:={paths.dog_ca_cert(args.dog)}",
                 f"password_file:={paths.dog_password(args.dog)}",
                 f"command_public_key:={paths.dog_public_key(args.dog)}",
                 f"state_dir:={args.var / 'uplink'}", f"mcu_port:={mcu_link}",
                 f"safety_state_file:={args.var / 'safety' / 'holds.json'}",
                 f"evidence_dir:={args.var / 'evidence'}",
                 f"evidence_key:={paths.dog_evidence_key(args.dog)}",
                 "camera_source:=topic:camera/image_raw"],
                env=dds_env.environ(), start_new_session=True)
        # The officer's handheld page, with its certificate from the demo's fleet CA.
        with stopping.deferred():
            self.handheld = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "launch", str(TELEOP_LAUNCH), f"dog:={args.dog}",
                 f"port:={handheld_port}", f"cert_file:={cert}", f"key_file:={key}"],
                env=dds_env.environ(), start_new_session=True)
        threading.Thread(target=self._invite_officer, args=(f"https://127.0.0.1:{handheld_port}/",),
                         name="demo-handheld-invite", daemon=True).start()
        # Starting the demo is the operator's deliberate action: as the station, release the
        # boot hold, stand the dog up (the hold sat it down) and resume the patrol once the dog
        # answers (docs/safety.md).
        threading.Thread(target=self._start_patrol, name="demo-start-patrol", daemon=True).start()
        name, password = demo_login(self.station.accounts, args.var)
        token = demo_api_token(self.station.accounts, name, args.var)
        print(f"\n  viewer:  {self.station.http.url}\n"
              f"  log in:  name     = {name}   (role operator; every command is signed as {name})\n"
              f"           password = {password}\n"
              f"                      (the file {args.var / DEMO_LOGIN_FILE})\n"
              f"  scripts: Authorization: Bearer {token}\n"
              f"                      (an API token of {name}; the file {args.var / DEMO_TOKEN_FILE})\n"
              f"  broker:  mqtts://127.0.0.1:{broker_port}  (TLS; fleet in {fleet.root})\n"
              "  stop:    Ctrl-C (or SIGTERM)\n", flush=True)
        return 0

    def _start_patrol(self, deadline_s: float = 300.0) -> None:
        dispatcher, dog = self.station.dispatcher, self.args.dog
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and self.dog is not None and self.dog.poll() is None:
            try:
                dispatcher.wait(dispatcher.send(dog, "estop_release", {}, "demo"), 5.0)
                dispatcher.wait(dispatcher.send(dog, "mode", {"mode": "stand"}, "demo"), 5.0)
                result = dispatcher.wait(dispatcher.send(dog, "resume", {"input": "patrol"},
                                                         "demo"), 5.0)
            except Exception:  # noqa: BLE001 (link not up yet: try again)
                result = None
            if result is not None and result.get("code") == "ok":
                print("robot-dog demo: boot hold released, patrol resumed", flush=True)
                self.patrolling.set()
                self._keep_patrolling()
                return
            time.sleep(1.0)

    def _invite_officer(self, page_url: str, deadline_s: float = 300.0) -> None:
        """Once the handheld answers: its address, a pairing code and a QR code of both."""
        namespace = f"/{self.args.dog}"
        deadline = time.monotonic() + deadline_s
        while (time.monotonic() < deadline and not self._stopping and self.handheld is not None
               and self.handheld.poll() is None):
            # A handle the stop can kill: a `teleop pair` still waiting for the node must not
            # outlive a demo stopped meanwhile.
            self._pairing = subprocess.Popen(
                [sys.executable, "-m", "robot_dog.cli", "teleop", "pair", "--ns", namespace,
                 "--officer", DEMO_OFFICER],
                env=dds_env.environ(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                stdout, _ = self._pairing.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self._pairing.kill()
                self._pairing.communicate()
                continue
            if self._pairing.returncode == 0 and stdout.startswith("pairing code: "):
                code = stdout.split(":", 1)[1].split()[0]
                print(invite(page_url, code, namespace, DEMO_OFFICER), flush=True)
                return
            time.sleep(1.0)

    def _keep_patrolling(self, every_s: float = 5.0) -> None:
        """The demo has no operator at the console: it plays one who resumes the patrol whenever
        the safety chain paused it (a lapse of the patrol's own input on a busy machine, a
        handheld that took over and let go). A resume is refused while an e-stop holds, so this
        never overrides a stop; on a real dog the operator or the officer resumes (docs/safety.md)."""
        dispatcher, dog = self.station.dispatcher, self.args.dog
        while self.dog is not None and self.dog.poll() is None:
            time.sleep(every_s)
            try:
                result = dispatcher.wait(dispatcher.send(dog, "resume", {"input": "patrol"},
                                                         "demo"), 5.0)
            except Exception:  # noqa: BLE001 (link down or stopping: try again later)
                continue
            if result is not None and "already" not in str(result.get("message", "")):
                print(f"robot-dog demo: patrol resume: {result.get('code')} "
                      f"{result.get('message', '')}", flush=True)

    def wait(self) -> int:
        """Until the dog has patrolled --duration s, or the dog stack or the simulator exits (1),
        or the patrol never started within --startup-timeout (1); a stop signal ends it by
        KeyboardInterrupt. The duration counts from the patrol's resume, not from the start: the
        stack's start-up takes 10 s on a quiet 2-core machine and several times that on a busy
        one, and a run should walk as long on either."""
        assert self.dog is not None and self.sim is not None
        duration, deadline = self.args.duration, None
        startup_deadline = time.monotonic() + self.args.startup_timeout
        while deadline is None or time.monotonic() < deadline:
            if duration is not None and deadline is None:
                if self.patrolling.is_set():
                    deadline = time.monotonic() + duration
                elif time.monotonic() > startup_deadline:
                    print(f"robot-dog demo: the patrol was not resumed within "
                          f"{self.args.startup_timeout:g} s", file=sys.stderr)
                    return 1
            for which, proc in (("dog stack", self.dog), ("simulator", self.sim),
                                ("handheld", self.handheld)):
                if proc is not None and proc.poll() is not None:
                    print(f"robot-dog demo: the {which} exited with {proc.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        self.completed = True
        return 0

    def stop(self) -> dict[str, Any] | None:
        """Stop what was started: both launchers at once (one after the other took 0.75 s
        more; the virtual MCU in the simulator may go before payload_node, which costs nothing:
        its safe state needs no host), then station, broker, audio; the station's summary, or
        None if it never started."""
        self._stopping = True
        pairing = self._pairing
        if pairing is not None and pairing.poll() is None:
            pairing.kill()
        stop_process_groups([(self.dog, "launcher"), (self.handheld, "handheld launcher"),
                             (self.sim, "simulator")])
        summary = None
        if self.station is not None:
            summary = self.station.summary()
            self.walked_m = track_length(self.station.storage.poses(self.args.dog))
            self.station.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.audio is not None:
            self.audio.stop()
        return summary


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    demo = Demo(args)
    try:
        code = demo.start() or demo.wait()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any moment: the demo's normal end
        code = 0
    finally:
        # stopping.install() lets only the first signal interrupt: this stop runs to its end.
        summary = demo.stop()
    if summary is None:
        return code
    frames = sum(d.get("frames", 0) for d in summary["stored"].values())
    telemetry = sum(d.get("telemetry", 0) for d in summary["stored"].values())
    events = sum(d.get("events", 0) for d in summary["stored"].values())
    print(json.dumps({"distance_walked_m": round(demo.walked_m, 2), "frames_at_station": frames,
                      "telemetry_at_station": telemetry, "events_at_station": events, **summary},
                     indent=2))
    # Frames and telemetry must reach the station in any headless run; a run that lasted its
    # whole --duration must also have walked and seen the scenario's events.
    checks = [("frames", frames), ("telemetry", telemetry)]
    if demo.completed:
        checks += [("distance walked", demo.walked_m), ("events", events)]
    missing = [name for name, value in checks if not value]
    if args.headless and missing:
        print(f"robot-dog demo: nothing at the station for: {', '.join(missing)}", file=sys.stderr)
        code = code or 1
    return code


def track_length(poses: list[tuple[float, float]]) -> float:
    """Metres along the stored track (telemetry poses in arrival order)."""
    return sum(math.dist(a, b) for a, b in zip(poses, poses[1:]))


def stop_process_groups(groups: list[tuple[subprocess.Popen[bytes] | None, str]],
                        timeout_s: float = 15.0) -> None:
    """SIGTERM to every group at once (each launcher then stops its nodes), SIGKILL a group as a
    last resort. SIGTERM rather than SIGINT: a child of a background job may have SIGINT ignored."""
    running = [(proc, name) for proc, name in groups if proc is not None and proc.poll() is None]
    for proc, _ in running:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc, name in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _LOGGER.error("%s did not stop in %.0f s; killing its process group", name, timeout_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
