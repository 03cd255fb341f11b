"""Motion safety under load: time to zero on every stop path, and restarts without a deliberate action.

Real processes and real rclpy (localhost-only DDS), as bench_teleop's stack: safety_node,
teleop_node (TLS WebSocket, fleet-CA certificate), payload_node with the virtual MCU on a pty in
this process; this process is the phone (websockets client), the patrol (20 Hz on
`patrol/cmd_vel`, resumed before each trial) and the probe recording `cmd_vel`. Beside the stack
run two CPU hogs, `yes > /dev/null` processes (the machine has 2 cores: they take both).

Paths (each trial: drive, stop, measure, release, watch, re-arm):
  station_estop      patrol driving; `estop/engage` as station (the ROS leg of the station's
                     e-stop; the MQTT leg is in bench outage) -> first zero on cmd_vel
  handheld_estop     phone driving; E-STOP frame -> first zero
  handheld_close     phone driving; the WebSocket closes -> first zero (the next phone says hello)
  handheld_silent    phone driving; the phone falls silent, socket open -> first zero
  mcu_button         patrol driving; the MCU's button pressed -> first zero
  payload_link_loss  patrol driving; the payload cable pulled (UNPLUG_S, 4 s) -> first zero; MCU safe time
Also `motion/state` gaps (published at least every 0.5 s), by the publisher's header stamps
(safety_node's own stalls) and by arrival at the probe (either side's).
After each release the patrol keeps publishing (and in handheld trials the phone keeps its stick
deflected) for 1 s: any non-zero command then is a restart without a deliberate action (goal 0).
Trials per path: `--trials=N` (default 1000); CPU hogs: `--hogs=N` (default 2); run under
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
from pathlib import Path

from bench.bench_teleop import Probe, Stack, _wait, pairing_code
from bench.stats import summary

WATCH_S = 1.0          # after a release: nothing may move for this long without a deliberate action
DRIVE_S = 0.4
#: Long enough for the payload link's 2 s check-in deadline to lapse (a shorter pull stops
#: only the MCU today: the payload node checks in `mcu` with a 2 s timeout).
UNPLUG_S = 4.0
PATHS = ("station_estop", "handheld_estop", "handheld_close", "handheld_silent", "mcu_button",
         "payload_link_loss")


def trials() -> int:
    """`./dev.sh bench safety --trials=N` (bench/__main__.py passes it as ROBOT_DOG_BENCH_TRIALS)."""
    return int(os.environ.get("ROBOT_DOG_BENCH_TRIALS", "1000"))


class Phone:
    """The handheld page as a scripted WebSocket client: pairs (or says hello with its token),
    drives at 20 Hz with beats while `x` is set, keeps beating while `beating`."""

    def __init__(self, stack: Stack, token: str | None = None, code: str | None = None) -> None:
        from websockets.sync.client import connect
        ctx = ssl.create_default_context(cafile=str(stack.ca))
        self.ws = connect(f"wss://127.0.0.1:{stack.port}/ws", ssl=ctx, open_timeout=30,
                          origin=f"https://127.0.0.1:{stack.port}").__enter__()  # the page's own origin
        self.seq, self.token = 0, token
        self.x: float | None = None
        self.beating, self.closed = True, False
        self._lock = threading.Lock()
        self._paired = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if token:
            self.send("hello", token=token)
        else:
            self.send("pair", code=code)
        if not self._paired.wait(30):
            raise RuntimeError("the phone did not pair")
        threading.Thread(target=self._loop, daemon=True).start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                doc = json.loads(text) if isinstance(text, str) else {}
                if doc.get("t") == "paired":
                    self.token = doc["token"]
                    self._paired.set()
        except Exception:  # noqa: BLE001 (closed)
            pass

    def send(self, t: str, **fields) -> float:
        with self._lock:
            self.seq += 1
            self.ws.send(json.dumps({"t": t, "seq": self.seq, **fields}))
            return time.perf_counter()

    def _loop(self) -> None:
        while not self.closed:
            try:
                if self.x is not None:
                    self.send("drive", x=self.x, z=0.0)
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
    def __init__(self, n: int = 2) -> None:
        self.procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(n)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, stack: Stack, probe: Probe) -> None:
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

        def state(msg: MotionState) -> None:
            self.state_at.append(time.perf_counter())
            self.state_stamp.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        probe.node.create_subscription(MotionState, "motion/state", state, qos.STATE)
        from robot_dog_interfaces.msg import EstopState
        self.estop_reason = ""
        self.unexpected_holds: dict[str, int] = {}   # holds no trial asked for (load: deadlines)

        def estop(msg: EstopState) -> None:
            self.estop_reason = msg.reason if msg.engaged else ""
        probe.node.create_subscription(EstopState, "estop", estop, qos.STATE)
        self.times: dict[str, list[float]] = {p: [] for p in PATHS}
        self.restarts: dict[str, int] = {p: 0 for p in PATHS}
        self.mcu_safe: list[float] = []
        self.phone: Phone | None = None

    # ---- helpers -------------------------------------------------------------------------------
    def srv(self, name: str, **fields):
        from robot_dog_interfaces import srv
        kind = {"estop/engage": srv.EstopEngage, "estop/release": srv.EstopRelease,
                "motion/resume": srv.MotionResume, "teleop/pair": srv.PairHandheld}[name]
        return self.probe.call(kind, name, **fields)

    def zero_after(self, t: float) -> float:
        return _wait(lambda: next((rt for rt, v in list(self.probe.cmd) if rt >= t and v == 0.0),
                                  None), "zero", 20) - t

    def moving_since(self, t: float) -> bool:
        return any(v != 0.0 for rt, v in list(self.probe.cmd) if rt >= t)

    def drive_patrol(self) -> None:
        self.released()
        self.srv("motion/resume", input="patrol", endpoint="admin")
        t = time.perf_counter()
        _wait(lambda: self.moving_since(t), "the patrol driving", 30)
        time.sleep(DRIVE_S)

    def released(self) -> None:
        """Wait for the trial's release; a hold no trial asked for (a deadline missed under
        load) is counted by its reason and released as admin."""
        try:
            _wait(lambda: not self.probe.estop or not self.probe.estop[-1], "released", 5)
        except RuntimeError:
            for part in self.estop_reason.split("; "):
                holder = part.split(":", 1)[0] or "?"
                self.unexpected_holds[holder] = self.unexpected_holds.get(holder, 0) + 1
            self.srv("estop/release", endpoint="admin")
            _wait(lambda: not self.probe.estop or not self.probe.estop[-1], "released", 30)

    def watch(self, path: str) -> None:
        """The released dog, with every input still asking to move: count any motion."""
        self.released()
        t = time.perf_counter()
        time.sleep(WATCH_S)
        if self.moving_since(t):
            self.restarts[path] += 1

    def new_phone(self) -> Phone:
        from robot_dog_interfaces.srv import PairHandheld
        token = self.phone.token if self.phone is not None else None
        for attempt in range(5):   # the server may still be closing the last connection
            try:
                code = None if token else self.probe.call(PairHandheld, "teleop/pair",
                                                          officer="bench-officer").pairing_code
                self.phone = Phone(self.stack, token=token, code=code)
                return self.phone
            except Exception:  # refused or reset: try again
                if attempt == 4:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def drive_phone(self) -> Phone:
        phone = self.phone if self.phone is not None and not self.phone.closed else self.new_phone()
        phone.beating = True
        self.released()
        phone.send("stop")                 # at neutral, then deflected: a deliberate action
        t = time.perf_counter()
        phone.x = 0.5
        _wait(lambda: self.moving_since(t), "the phone driving", 30)
        time.sleep(DRIVE_S)
        return phone

    def await_hold(self) -> None:
        """The lost handheld's deadline (0.5 s) engaging, before the phone comes back."""
        _wait(lambda: self.probe.estop and self.probe.estop[-1], "the handheld's hold", 30)

    def release_handheld(self, phone: Phone) -> None:
        phone.beating = True
        time.sleep(0.3)                     # beats: checked in again before the release
        phone.send("release")

    # ---- one trial per path --------------------------------------------------------------------
    def station_estop(self) -> None:
        self.drive_patrol()
        t = time.perf_counter()
        hold = self.srv("estop/engage", endpoint="station", reason="bench")
        self.times["station_estop"].append(self.zero_after(t))
        self.srv("estop/release", endpoint="station", hold_id=hold.hold_id)
        self.watch("station_estop")

    def handheld_estop(self) -> None:
        phone = self.drive_phone()
        t = phone.send("estop")
        self.times["handheld_estop"].append(self.zero_after(t))
        phone.send("release")               # the stick stays deflected
        self.watch("handheld_estop")
        phone.x = None

    def handheld_close(self) -> None:
        phone = self.drive_phone()
        t = phone.close()
        self.times["handheld_close"].append(self.zero_after(t))
        self.await_hold()
        phone = self.new_phone()            # hello with the stored token
        phone.x = 0.5                       # touched again at once: deflected, never re-centred
        self.release_handheld(phone)
        self.watch("handheld_close")
        phone.x = None

    def handheld_silent(self) -> None:
        phone = self.drive_phone()
        phone.beating, x = False, phone.x
        phone.x = None
        t = time.perf_counter()             # the last frame went within the last 50 ms
        self.times["handheld_silent"].append(self.zero_after(t) + 0.05)
        self.await_hold()
        phone.x = x                         # back: its frames come again, deflected
        self.release_handheld(phone)
        self.watch("handheld_silent")
        phone.x = None

    def mcu_button(self) -> None:
        self.drive_patrol()
        t = time.perf_counter()
        self.stack.mcu.set_button(True)
        self.times["mcu_button"].append(self.zero_after(t))
        self.stack.mcu.set_button(False)
        _wait(lambda: "pulled out" in self.stack.log("payload")[-4000:], "pulled out", 30)
        _wait(lambda: self.srv("estop/release", endpoint="button").accepted, "button released", 30)
        self.watch("mcu_button")

    def payload_link_loss(self) -> None:
        self.drive_patrol()
        t = time.perf_counter()
        self.stack.mcu.unplug(UNPLUG_S)
        safe = _wait(lambda: self.stack.mcu.snapshot()["safe"] and time.perf_counter(), "safe", 20)
        self.mcu_safe.append(safe - t)
        self.times["payload_link_loss"].append(self.zero_after(t))
        _wait(lambda: self.srv("estop/release", endpoint="mcu").accepted, "mcu released", 60)
        self.watch("payload_link_loss")


def run() -> dict[str, object]:
    n = trials()
    n_hogs = int(os.environ.get("ROBOT_DOG_BENCH_HOGS", "2"))  # --hogs=N
    figures: dict[str, object] = {"trials_per_path": n, "cpus": os.cpu_count(),
                                  "hogs": f"{n_hogs} x `yes > /dev/null`"}
    hogs = Hogs(n_hogs)
    with tempfile.TemporaryDirectory(prefix="bench_safety_") as tmp:
        stack = Stack(Path(tmp))
        probe = None
        try:
            probe = Probe(stack.ns)
            _wait(lambda: "handheld page on" in stack.log("teleop"), "teleop node", 120)
            _wait(lambda: "payload MCU on" in stack.log("payload"), "payload node", 120)
            bench = Bench(stack, probe)
            # The dog never logs its codes: a new one from `robot-dog teleop pair`, as an officer.
            bench.phone = Phone(stack, code=pairing_code(stack))
            figures["load_average_1min_start"] = os.getloadavg()[0]
            errors: dict[str, int] = {}
            for _ in range(n):
                for path in PATHS:
                    try:
                        getattr(bench, path)()
                    except Exception as exc:  # noqa: BLE001 (a trial that could not run: counted)
                        key = f"{path}:{type(exc).__name__}"
                        errors[key] = errors.get(key, 0) + 1
                        bench.phone = None if path.startswith("handheld") else bench.phone
            figures["trials_not_run"] = errors or "none"
            figures["load_average_1min_end"] = os.getloadavg()[0]
            for path in PATHS:
                ms = [s * 1000 for s in bench.times[path]]
                figures |= summary(ms, f"{path}_to_zero", "ms", f"{path} trials")
                figures |= {f"{path}_over_500ms": sum(v > 500 for v in ms),
                            f"{path}_restarts_without_action": bench.restarts[path]}
            figures["mcu_safe_after_unplug_max_ms"] = max(bench.mcu_safe) * 1000
            figures["unexpected_holds"] = dict(bench.unexpected_holds) or "none"
            # Gaps by the publisher's stamps are safety_node's own; by arrival, its or the probe's.
            for name, times in (("published", bench.state_stamp), ("received", bench.state_at)):
                gaps = [b - a for a, b in zip(times, times[1:])]
                figures[f"motion_state_{name}_max_gap_ms"] = max(gaps) * 1000
                figures[f"motion_state_{name}_gaps_over_600ms"] = sum(g > 0.6 for g in gaps)
            # The node's own account of its longest stalls: where the time went (safety/stall.py).
            stalls = [line.split("safety tick ", 1)[1] for line in stack.log("safety").splitlines()
                      if "safety tick " in line]
            figures["safety_stalls_logged"] = len(stalls)
            figures["safety_stall_lines"] = stalls[-5:] or "none"
            figures["goal_met"] = all(figures[f"{p}_over_500ms"] == 0 and
                                      figures[f"{p}_restarts_without_action"] == 0 for p in PATHS)
        finally:
            if probe is not None:
                probe.close()
            stack.close()
            hogs.stop()
    return figures
