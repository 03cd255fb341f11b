"""Motion safety under load: time to zero on every stop path, and restarts without a deliberate action.

Real processes and real rclpy (localhost-only DDS), as bench_teleop's stack: safety_node,
teleop_node (TLS WebSocket, fleet-CA certificate), payload_node with the virtual MCU on a pty in
this process; this process is the phone (websockets client), the patrol (20 Hz on
`patrol/cmd_vel`, resumed before each trial) and the probe recording `cmd_vel`. Beside the stack
run two CPU hogs, `yes > /dev/null` processes (the machine has 2 cores: they take both).

Paths (each trial: drive DRIVE_S, stop, measure, release, watch WATCH_S, re-arm):
  station_estop      patrol driving; `estop/engage` as station (the ROS leg of the station's
                     e-stop; the MQTT leg is in bench outage) -> first zero on cmd_vel
  handheld_estop     phone driving; E-STOP frame -> first zero
  handheld_close     phone driving; the WebSocket closes -> first zero; once the handheld's
                     deadline holds, the officer pairs again with a new code (a lost phone's
                     pairing is void) and releases with the stick still deflected
  handheld_silent    phone driving; the phone falls silent, socket open -> first zero, from
                     the phone's last drive frame
  mcu_button         patrol driving; the MCU's button pressed -> first zero
  payload_link_loss  patrol driving; the payload cable pulled -> first zero; MCU safe time. The
                     cable stays out until the stop, the MCU's own safe state and the `mcu`
                     hold are all seen (about 0.5 s: the MCU's heartbeat timeout), then goes back;
                     released once payload_node logs its link back
A stop that never comes counts as ZERO_TIMEOUT_S (over 0.5 s), never as a trial not run.
Also `motion/state` gaps (published at least every 0.5 s), by the publisher's header stamps
(safety_node's own stalls) and by arrival at the probe (either side's).
After each release the patrol keeps publishing (and in handheld trials the phone keeps its stick
deflected) for WATCH_S: any non-zero command then is a restart without a deliberate action.

Each path's time per trial is split into steps (`Phases`: `{path}_s_per_step`), so the pace
says where it goes. Options: `--trials=N` rounds of the paths (default 1000); `--hogs=N` CPU hogs (default 2);
`--paths=a,b` a subset (ROBOT_DOG_BENCH_PATHS); `--minutes=M` no new round after M minutes
(ROBOT_DOG_BENCH_MINUTES). Each run appends one JSON line to ROBOT_DOG_BENCH_SAFETY_LOG
(default var/bench/safety.jsonl) and prints the totals of the current code (the hash of the
files its processes load: bench/code_identity.py) over the log;
`./dev.sh bench safety --summary` prints them without running. Run under
`flock -x /tmp/robot-dog-timing.lock`.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import safety_log
from bench.code_identity import identity as loaded_code_identity
from bench.bench_teleop import Probe, Stack, _wait
from bench.stats import summary

ROOT = Path(__file__).resolve().parents[1]
WATCH_S = 1.0          # after a release: nothing may move for this long without a deliberate action
DRIVE_S = 0.2          # driving before each stop (0.2 m/s reached: every path slows to zero at once)
ZERO_TIMEOUT_S = 20.0  # a stop not seen by then is recorded as this long
#: The cable's longest pull: it goes back as soon as the stop, the MCU's safe state and the
#: `mcu` hold are seen (the serial link's loss engages the hold at once, not a check-in deadline).
UNPLUG_MAX_S = 20.0
POLL_S = 0.02          # pacing of repeated service calls (a release tried until it is accepted)


def trials() -> int:
    """`./dev.sh bench safety --trials=N` (bench/__main__.py passes it as ROBOT_DOG_BENCH_TRIALS)."""
    return int(os.environ.get("ROBOT_DOG_BENCH_TRIALS", "1000"))


def results_log() -> Path:
    return Path(os.environ.get("ROBOT_DOG_BENCH_SAFETY_LOG") or ROOT / "var" / "bench" / "safety.jsonl")


def code_identity() -> dict[str, object]:
    """The code this run tests: the hash of the files its processes load (this module's import
    closure and that of each node the stack starts, with the lock file and the interfaces:
    bench/code_identity.py), how many files, and the commit the tree was on (for the reader:
    runs add up by the hash, so a commit elsewhere, the station or the console, keeps the tally)."""
    code, files = loaded_code_identity(ROOT, (__name__, *Stack.NODES))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30).stdout.strip()
    return {"commit": commit, "code": code, "code_files": files}


def logged_totals() -> str:
    """`./dev.sh bench safety --summary`: every logged run added up, the current code's first."""
    log = results_log()
    runs, bad = safety_log.read(log.read_text(encoding="utf-8").splitlines() if log.exists() else [])
    return f"{log}\n" + safety_log.report(runs, safety_log.version(code_identity()), bad)


class Phone:
    """The handheld page as a scripted WebSocket client: pairs with a code, drives at 20 Hz with
    beats while `x` is set, keeps beating while `beating`."""

    def __init__(self, stack: Stack, code: str) -> None:
        from websockets.sync.client import connect
        ctx = ssl.create_default_context(cafile=str(stack.ca))
        self.ws = connect(f"wss://127.0.0.1:{stack.port}/ws", ssl=ctx, open_timeout=30,
                          origin=f"https://127.0.0.1:{stack.port}").__enter__()  # the page's own origin
        self.seq = 0
        self.token: str | None = None
        self.refused = ""                   # why pairing was refused
        self.results: list[dict] = []       # the page requests' answers
        self.x: float | None = None
        self.last_drive = float("-inf")     # perf_counter of the newest drive frame sent
        self.beating, self.closed = True, False
        self._lock = threading.Lock()
        self._answered = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.send("pair", code=code)
        if not self._answered.wait(30) or self.token is None:
            self.close()
            raise RuntimeError(f"the phone did not pair: {self.refused or 'no answer in 30 s'}")
        threading.Thread(target=self._loop, daemon=True).start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                doc = json.loads(text) if isinstance(text, str) else {}
                if doc.get("t") == "paired":
                    self.token = doc["token"]
                    self._answered.set()
                elif doc.get("t") == "refused" and self.token is None:
                    self.refused = f"{doc.get('code')}: {doc.get('reason')}"
                    self._answered.set()
                elif doc.get("t") == "result":
                    self.results.append(doc)
        except Exception:  # noqa: BLE001 (closed)
            pass

    def send(self, t: str, **fields) -> float:
        with self._lock:
            self.seq += 1
            self.ws.send(json.dumps({"t": t, "seq": self.seq, **fields}))
            return time.perf_counter()

    def release(self, timeout: float = 30.0) -> None:
        """The page's Release (the dog checks it in first), tried again until it is answered ok."""
        end = time.monotonic() + timeout
        while True:
            seen = len(self.results)
            self.send("release")
            answer = _wait(lambda seen=seen: next(
                (r for r in self.results[seen:] if r.get("kind") == "release"), None),
                "the release's answer", timeout)
            if answer.get("ok"):
                return
            if time.monotonic() > end:
                raise RuntimeError(f"release refused: {answer.get('code')}")
            time.sleep(POLL_S)

    def _loop(self) -> None:
        while not self.closed:
            try:
                x = self.x
                if x is not None:
                    self.last_drive = self.send("drive", x=x, z=0.0)
                if self.beating:
                    self.send("beat")
            except Exception:  # noqa: BLE001 (closed)
                return
            time.sleep(0.05)

    def close(self) -> float:
        self.closed = True
        t = time.perf_counter()
        self.ws.close()
        return t


class Hogs:
    """CPU hogs beside the stack, in a session of their own like every node: in the bench's
    session (one kernel autogroup) they would starve the probe that stands in for the base,
    not the stack."""

    def __init__(self, n: int = 2) -> None:
        self.procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, start_new_session=True)
                      for _ in range(n)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


class LogCount:
    """Occurrences of `needle` in a growing log file, reading only what was added."""

    def __init__(self, path: Path, needle: str) -> None:
        self.path, self.needle = path, needle
        self.offset, self.seen, self._tail = 0, 0, ""

    def count(self) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        text = self._tail + data.decode(errors="replace")
        self.seen += text.count(self.needle)
        self._tail = text[-(len(self.needle) - 1):] if len(self.needle) > 1 else ""
        return self.seen


class Phases:
    """Where each path's trials spend their time: seconds per named step, summed over the
    trials (`lap` closes the step that began at the previous lap)."""

    def __init__(self) -> None:
        self.totals: dict[str, dict[str, float]] = {}
        self._path, self._at = "", 0.0

    def start(self, path: str) -> None:
        self._path, self._at = path, time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        steps = self.totals.setdefault(self._path, {})
        steps[step] = steps.get(step, 0.0) + now - self._at
        self._at = now

    def per_trial(self, path: str, trials: int) -> dict[str, float]:
        return {step: round(s / max(1, trials), 3) for step, s in self.totals.get(path, {}).items()}


class Bench:
    def __init__(self, stack: Stack, probe: Probe, paths: tuple[str, ...]) -> None:
        from geometry_msgs.msg import Twist

        from robot_dog.ros import qos
        self.stack, self.probe = stack, probe
        self.patrol_vx: float | None = 0.3
        pub = probe.node.create_publisher(Twist, "patrol/cmd_vel", qos.COMMAND)

        def patrol() -> None:
            if self.patrol_vx is not None:
                msg = Twist()
                msg.linear.x = self.patrol_vx
                pub.publish(msg)
        probe.node.create_timer(0.05, patrol)
        # motion/state comes at least every 0.5 s: a longer gap is a stall of the safety node
        # (or of this probe: both would show in the other figures too).
        from robot_dog_interfaces.msg import MotionState
        self.state_at: list[float] = []       # when the probe got it
        self.state_stamp: list[float] = []    # when safety_node published it (its header)

        self.winner: list[tuple[float, str]] = []   # (when the probe got it, motion/state's winner)
        self.restart_notes: list[str] = []    # what moved in each restart (the last few)

        def state(msg: MotionState) -> None:
            self.winner.append((time.perf_counter(), msg.winner))
            self.state_at.append(time.perf_counter())
            self.state_stamp.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        probe.node.create_subscription(MotionState, "motion/state", state, qos.STATE)
        from robot_dog_interfaces.msg import EstopState
        self.holders: list[str] = []          # who holds the e-stop now
        self.hold_reason = ""                 # and why (EstopState.reason)
        self.unexpected_holds: dict[str, int] = {}   # holds no trial asked for (load: deadlines)
        self.unexpected_reasons: list[str] = []      # the last few of them, why

        def estop(msg: EstopState) -> None:
            self.holders = list(msg.hold_endpoints) if msg.engaged else []
            self.hold_reason = msg.reason
        probe.node.create_subscription(EstopState, "estop", estop, qos.STATE)
        self.times: dict[str, list[float]] = {p: [] for p in paths}
        self.restarts: dict[str, int] = {p: 0 for p in paths}
        self.watched: dict[str, int] = {p: 0 for p in paths}
        self.no_zero: dict[str, int] = {p: 0 for p in paths}
        self.mcu_safe: list[float] = []
        self.phone: Phone | None = None
        self.pulled_out = LogCount(stack.tmp / "payload.log", "pulled out")
        self.link_back = LogCount(stack.tmp / "payload.log", "payload MCU link back")
        self.phases = Phases()
        self.lap = self.phases.lap
        from geometry_msgs.msg import TwistStamped
        #: the handheld input safety_node hears: (its publisher's stamp, Unix s; linear x)
        self.stick: list[tuple[float, float]] = []

        def stick(msg: TwistStamped) -> None:
            stamp = msg.header.stamp
            self.stick.append((stamp.sec + stamp.nanosec * 1e-9, msg.twist.linear.x))
        probe.node.create_subscription(TwistStamped, "teleop/handheld/cmd_vel", stick, qos.COMMAND)

    # ---- helpers -------------------------------------------------------------------------------
    def srv(self, name: str, **fields):
        from robot_dog_interfaces import srv
        kind = {"estop/engage": srv.EstopEngage, "estop/release": srv.EstopRelease,
                "motion/resume": srv.MotionResume, "teleop/pair": srv.PairHandheld}[name]
        return self.probe.call(kind, name, **fields)

    def mark(self) -> int:
        """Where `cmd_vel` is now: the scans below start here, not at the run's first message."""
        return len(self.probe.cmd)

    def zero_after(self, path: str, t: float, since: int) -> float | None:
        """Record the time from `t` to the first zero on `cmd_vel` (ZERO_TIMEOUT_S if none);
        when that zero came (None: it did not)."""
        cmd = self.probe.cmd
        zero_at: float | None = None
        try:
            zero_at = _wait(lambda: next((rt for rt, v in cmd[since:] if rt >= t and v == 0.0), None),
                            "zero", ZERO_TIMEOUT_S)
            self.times[path].append(zero_at - t)
        except RuntimeError:
            self.times[path].append(ZERO_TIMEOUT_S)
            self.no_zero[path] += 1
        self.lap("to_zero")
        return zero_at

    def moving_since(self, t: float, since: int) -> bool:
        return any(v != 0.0 for rt, v in self.probe.cmd[since:] if rt >= t)

    def release(self, endpoint: str, timeout: float = 30.0) -> None:
        """Release `endpoint`'s hold, tried again (paced) until it is accepted."""
        def accepted() -> bool:
            reply = self.srv("estop/release", endpoint=endpoint)
            if reply is not None and reply.accepted:
                return True
            time.sleep(POLL_S)
            return False
        _wait(accepted, f"{endpoint} released", timeout)
        self.lap("release")

    def drive_patrol(self) -> None:
        self.released()
        since, t = self.mark(), time.perf_counter()
        reply = self.srv("motion/resume", input="patrol", endpoint="admin")
        if reply is None or not reply.accepted:   # a hold came after the release seen above:
            raise RuntimeError(f"resume refused: {getattr(reply, 'code', 'no answer')}")  # not run
        _wait(lambda: self.moving_since(t, since), "the patrol driving", 30)
        self.lap("start_driving")
        time.sleep(DRIVE_S)
        self.lap("drive")

    def released(self) -> None:
        """Wait for the trial's release; a hold no trial asked for (a deadline missed under
        load) is counted by its holder and released as admin."""
        try:
            _wait(lambda: not self.probe.estop or not self.probe.estop[-1], "released", 5)
        except RuntimeError:
            for holder in self.holders or ["?"]:
                self.unexpected_holds[holder] = self.unexpected_holds.get(holder, 0) + 1
            self.unexpected_reasons = [*self.unexpected_reasons[-4:], self.hold_reason[:160]]
            self.srv("estop/release", endpoint="admin")
            _wait(lambda: not self.probe.estop or not self.probe.estop[-1], "released", 30)
        self.lap("wait_released")

    def watch(self, path: str) -> None:
        """The released dog, with every input still asking to move: count any motion."""
        self.released()
        since, t = self.mark(), time.perf_counter()
        time.sleep(WATCH_S)
        if self.moving_since(t, since):
            self.restarts[path] += 1
            self._note_restart(path, t, since)
        self.watched[path] += 1
        self.lap("watch")

    def _note_restart(self, path: str, t: float, since: int) -> None:
        """What moved the released dog: the first motion's value and time after the watch began,
        motion/state's winner then, and the safety node's last interlock lines."""
        at, vx = next((rt, v) for rt, v in self.probe.cmd[since:] if rt >= t and v != 0.0)
        winner = next((w for rt, w in reversed(self.winner) if rt <= at + 0.1), "?")
        lines = [ln.split("interlock: ", 1)[1] for ln in self.stack.log("safety").splitlines()
                 if "interlock: " in ln][-4:]
        self.restart_notes = [*self.restart_notes[-9:], f"{path}: vx {vx:.2f} {1000 * (at - t):.0f} "
                              f"ms into the watch, winner {winner}; interlock: {' | '.join(lines)}"]

    def new_phone(self) -> Phone:
        """A phone paired with a new code (a lost phone's stored token no longer resumes)."""
        from robot_dog_interfaces.srv import PairHandheld
        for attempt in range(5):
            try:
                reply = self.probe.call(PairHandheld, "teleop/pair", officer="bench-officer")
                self.phone = Phone(self.stack, code=reply.pairing_code)
                self.lap("pair")
                return self.phone
            except Exception:  # refused, reset or no answer: try again
                if attempt == 4:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def drive_phone(self) -> Phone:
        phone = self.phone if self.phone is not None and not self.phone.closed else self.new_phone()
        phone.beating = True
        self.released()
        phone.send("stop")                 # at neutral, then deflected: a deliberate action
        since, t = self.mark(), time.perf_counter()
        phone.x = 0.5
        _wait(lambda: self.moving_since(t, since), "the phone driving", 30)
        self.lap("start_driving")
        time.sleep(DRIVE_S)
        self.lap("drive")
        return phone

    def deflected_while_held(self, phone: Phone, x: float) -> None:
        """The phone's stick deflected, and its frame on the handheld input before the release
        (deflected, or zero while the server waits for the stick to be re-centred after a
        lapse): the release must then not let it drive (it was never re-centred)."""
        # Judged by the frame's stamp, not by when this probe got it: a zero teleop published
        # before the deflection (the pairing's) and received after it let the release overtake
        # the deflection, which then came after the release as a fresh one (5 such "restarts" in
        # 1,386 handheld-close trials: the benchmark's, not the dog's).
        since, t = len(self.stick), time.time()
        phone.x = x
        _wait(lambda: any(stamp >= t for stamp, _ in self.stick[since:]), "the stick heard", 30)
        self.lap("stick")

    def await_hold(self, endpoint: str) -> None:
        _wait(lambda: endpoint in self.holders, f"the {endpoint} hold", 30)
        self.lap("hold")

    # ---- one trial per path --------------------------------------------------------------------
    def station_estop(self) -> None:
        self.drive_patrol()
        since, t = self.mark(), time.perf_counter()
        hold = self.srv("estop/engage", endpoint="station", reason="bench")
        self.zero_after("station_estop", t, since)
        self.srv("estop/release", endpoint="station", hold_id=hold.hold_id)
        self.lap("release")
        self.watch("station_estop")

    def handheld_estop(self) -> None:
        phone = self.drive_phone()
        since = self.mark()
        t = phone.send("estop")
        self.zero_after("handheld_estop", t, since)
        phone.release()                     # the stick stays deflected
        self.lap("release")
        self.watch("handheld_estop")
        phone.x = None

    def handheld_close(self) -> None:
        phone = self.drive_phone()
        since = self.mark()
        t = phone.close()
        self.zero_after("handheld_close", t, since)
        self.await_hold("handheld")         # the lost handheld's deadline (0.5 s)
        phone = self.new_phone()            # the officer pairs again with a new code
        self.deflected_while_held(phone, 0.5)   # touched again at once: never re-centred
        phone.release()
        self.lap("release")
        self.watch("handheld_close")
        phone.x = None

    def handheld_silent(self) -> None:
        phone = self.drive_phone()
        since = self.mark()
        phone.beating, x = False, phone.x
        phone.x = None
        zero_at = self.zero_after("handheld_silent", time.perf_counter(), since)
        if zero_at is not None:   # from the last frame the phone sent (its loop may send one
            self.times["handheld_silent"][-1] = zero_at - phone.last_drive   # after the line above)
        self.await_hold("handheld")
        phone.beating = True                # back: its frames come again, deflected
        self.deflected_while_held(phone, x or 0.5)
        phone.release()
        self.lap("release")
        self.watch("handheld_silent")
        phone.x = None

    def mcu_button(self) -> None:
        self.drive_patrol()
        pulled_out = self.pulled_out.count()
        since, t = self.mark(), time.perf_counter()
        self.stack.mcu.set_button(True)
        self.zero_after("mcu_button", t, since)
        self.stack.mcu.set_button(False)
        # payload_node has seen it out (it re-engages while it thinks the button is down)
        _wait(lambda: self.pulled_out.count() > pulled_out or time.sleep(POLL_S), "pulled out", 30)
        self.lap("pulled_out")
        self.release("button")
        self.watch("mcu_button")

    def payload_link_loss(self) -> None:
        mcu = self.stack.mcu
        self.drive_patrol()
        _wait(lambda: not mcu.snapshot()["safe"] or time.sleep(POLL_S), "the MCU not safe", 30)
        self.lap("payload_live")
        link_back = self.link_back.count()
        since, t = self.mark(), time.perf_counter()
        mcu.unplug(UNPLUG_MAX_S)
        try:
            self.zero_after("payload_link_loss", t, since)
            safe = _wait(lambda: mcu.snapshot()["safe"] and time.perf_counter(), "MCU safe", 20)
            self.mcu_safe.append(safe - t)
            self.lap("mcu_safe")
            self.await_hold("mcu")
        finally:
            mcu.plug_in()
        # What the officer waits for before releasing: payload_node says its link is back
        # (live telemetry; until then it renews the `mcu` hold, so a release would not last).
        _wait(lambda: self.link_back.count() > link_back or time.sleep(POLL_S),
              "the payload link back", 30)
        self.lap("link_back")
        self.release("mcu")
        self.watch("payload_link_loss")


def _figures(bench: Bench, paths: tuple[str, ...]) -> dict[str, object]:
    figures: dict[str, object] = {}
    for path in paths:
        ms = [s * 1000 for s in bench.times[path]]
        if ms:
            figures |= summary(ms, f"{path}_to_zero", "ms", f"{path} trials")
        figures |= {f"{path}_trials": len(ms), f"{path}_over_500ms": sum(v > 500 for v in ms),
                    f"{path}_no_zero_within_{ZERO_TIMEOUT_S:g}s": bench.no_zero[path],
                    f"{path}_restart_checks": bench.watched[path],
                    f"{path}_restarts_without_action": bench.restarts[path]}
    if bench.mcu_safe:
        figures["mcu_safe_after_unplug_max_ms"] = max(bench.mcu_safe) * 1000
    figures["unexpected_holds"] = dict(bench.unexpected_holds) or "none"
    figures["unexpected_hold_reasons"] = bench.unexpected_reasons or "none"
    figures["restart_notes"] = bench.restart_notes or "none"
    # Gaps by the publisher's stamps are safety_node's own; by arrival, its or the probe's.
    for name, times in (("published", bench.state_stamp), ("received", bench.state_at)):
        gaps = [b - a for a, b in zip(times, times[1:])]
        if gaps:
            figures[f"motion_state_{name}_max_gap_ms"] = max(gaps) * 1000
            figures[f"motion_state_{name}_gaps_over_600ms"] = sum(g > 0.6 for g in gaps)
    return figures


def run() -> dict[str, object]:
    n = trials()
    paths = safety_log.select_paths(os.environ.get("ROBOT_DOG_BENCH_PATHS"))
    n_hogs = int(os.environ.get("ROBOT_DOG_BENCH_HOGS", "2"))  # --hogs=N
    minutes = float(os.environ.get("ROBOT_DOG_BENCH_MINUTES") or "inf")
    identity = code_identity()
    figures: dict[str, object] = {"rounds_asked": n, "paths": ",".join(paths), "cpus": os.cpu_count(),
                                  "hogs": f"{n_hogs} x `yes > /dev/null`",
                                  "code": safety_log.version(identity)}
    hogs = Hogs(n_hogs)
    with tempfile.TemporaryDirectory(prefix="bench_safety_") as tmp:
        stack = Stack(Path(tmp))
        probe = None
        bench: Bench | None = None
        errors: dict[str, int] = {}
        not_run = {p: 0 for p in paths}
        seconds = {p: 0.0 for p in paths}
        load_start = os.getloadavg()[0]
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            probe = Probe(stack.ns)
            _wait(lambda: "handheld page on" in stack.log("teleop"), "teleop node", 120)
            _wait(lambda: "payload MCU on" in stack.log("payload"), "payload node", 120)
            bench = Bench(stack, probe, paths)
            load_start = os.getloadavg()[0]
            date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            ends = time.monotonic() + minutes * 60
            rounds = 0
            while rounds < n and time.monotonic() < ends:
                rounds += 1
                for path in paths:
                    started = time.monotonic()
                    bench.phases.start(path)
                    try:
                        getattr(bench, path)()
                    except Exception as exc:  # noqa: BLE001 (a trial that could not run: counted)
                        key = f"{path}:{type(exc).__name__}: {str(exc)[:80]}"
                        errors[key] = errors.get(key, 0) + 1
                        not_run[path] += 1
                        if path.startswith("handheld") and bench.phone is not None:
                            bench.phone.close()     # the next handheld trial pairs a new one
                            bench.phone = None
                    bench.lap("rest")          # what no step above claimed (a trial that failed)
                    seconds[path] += time.monotonic() - started
            figures["rounds_run"] = rounds
            figures["load_average_1min_start"] = load_start
            figures["load_average_1min_end"] = os.getloadavg()[0]
            figures["trials_not_run"] = errors or "none"
            figures |= _figures(bench, paths)
            figures |= {f"{p}_s_per_trial": seconds[p] / max(1, bench.watched[p] + not_run[p])
                        for p in paths}
            figures |= {f"{p}_s_per_step": bench.phases.per_trial(p, bench.watched[p] + not_run[p])
                        for p in paths}
            # The node's own account of its longest stalls: where the time went (safety/stall.py).
            stalls = [line.split("safety tick ", 1)[1] for line in stack.log("safety").splitlines()
                      if "safety tick " in line]
            figures["safety_stalls_logged"] = len(stalls)
            figures["safety_stall_lines"] = stalls[-5:] or "none"
            figures["goal_met_this_run"] = all(
                figures[f"{p}_over_500ms"] == 0 and figures[f"{p}_restarts_without_action"] == 0
                and not_run[p] == 0 for p in paths)
        finally:
            if bench is not None and any(bench.times[p] or not_run[p] for p in paths):
                safety_log.append(results_log(), safety_log.record(
                    identity=identity, date=date, load_start=load_start,
                    load_end=os.getloadavg()[0], hogs=n_hogs, times_s=bench.times,
                    restarts=bench.restarts, watched=bench.watched, not_run=not_run,
                    seconds=seconds, extra={"errors": errors, "unexpected_holds": bench.unexpected_holds,
                                            "unexpected_hold_reasons": bench.unexpected_reasons,
                                            "restart_notes": bench.restart_notes,
                                            "s_per_step": {p: bench.phases.per_trial(
                                                p, bench.watched[p] + not_run[p]) for p in paths},
                                            "mcu_safe_max_ms": round(max(bench.mcu_safe) * 1000, 1)
                                            if bench.mcu_safe else None}))
            if probe is not None:
                probe.close()
            stack.close()
            hogs.stop()
    print(logged_totals(), flush=True)
    return figures
