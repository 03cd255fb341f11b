"""Handheld and motion safety: command latency, release/link-loss to zero, e-stop to payload safe.

Real processes, real rclpy (localhost-only DDS), real TLS WebSocket with a fleet-CA certificate:
safety_node, teleop_node, payload_node (virtual MCU on a pty in this process); this process is the
phone (websockets client) and a ROS probe recording `cmd_vel`. The 1,000-trial figures run the
pure cores on a fake clock with random phases between the 20 Hz handheld and the 50 Hz tick;
the real-process runs are smaller. `ROBOT_DOG_BENCH_TELEOP_FRAMES` sets the latency frames.
"""
from __future__ import annotations

import json
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.stats import percentile, summary
from robot_dog import fleet
from tests.fixtures.ros_nodes import RosNode

FRAMES = int(os.environ.get("ROBOT_DOG_BENCH_TELEOP_FRAMES", "1000"))
TRIALS_CORE = 1000
TRIALS_REAL = 20


# ---- fake clock: 1,000 trials each -----------------------------------------------------------
def core_trials(seed: int = 1) -> dict[str, object]:
    from robot_dog.safety.motion import MotionCore
    from robot_dog.safety.twist import ZERO
    rng = random.Random(seed)
    release, loss = [], []
    for _ in range(TRIALS_CORE):
        for kind in ("release", "loss"):
            core, tick, phase = MotionCore(), core_tick(), rng.uniform(0, 0.05)
            t, next_frame, end = 0.0, phase, rng.uniform(1.0, 3.0)
            stop_at, zero_at = None, None
            while zero_at is None and t < end + 2.0:
                while next_frame <= t + tick:   # frames that arrive before the next tick
                    now = next_frame
                    if now < end:
                        core.command("handheld", (0.8, 0, 0), (0, 0, 0), now)
                        out = core.step(now)   # the node steps on arrival
                    elif kind == "release" and stop_at is None:
                        stop_at = now
                        core.command("handheld", (0, 0, 0), (0, 0, 0), now)
                        out = core.step(now)
                        if out == ZERO:
                            zero_at = now
                    elif kind == "loss" and stop_at is None:
                        stop_at = now          # the frame that never came
                    next_frame += 0.05
                t += tick
                out = core.step(t)
                if stop_at is not None and zero_at is None and out == ZERO:
                    zero_at = t
            (release if kind == "release" else loss).append(zero_at - stop_at + 0.05
                                                            if kind == "loss" else zero_at - stop_at)
    return {"core_trials": TRIALS_CORE,
            "core_release_to_zero_max_s": max(release),
            "core_link_loss_to_zero_p50_s": percentile(loss, 0.5, "fake-clock link-loss trials"),
            "core_link_loss_to_zero_max_s": max(loss),
            "core_goal_met_every_trial": max(release) <= 0.5 and max(loss) <= 0.5}


def core_tick() -> float:
    from robot_dog.safety.motion import MotionConfig
    return MotionConfig().tick_s


# ---- real processes ------------------------------------------------------------------------------
class Stack:
    #: The node modules the stack starts, a process each (bench safety's code identity reads them).
    NODES = ("robot_dog.safety.node", "robot_dog.teleop.node", "robot_dog.payload.node")

    def __init__(self, tmp: Path) -> None:
        from firmware_bridge.virtual_mcu.device import VirtualMcu
        self.ns = f"/bench{uuid.uuid4().hex[:6]}"
        self.tmp = tmp
        root = tmp / "fleet"
        fleet.init_fleet(root, ["dog1"], broker=fleet.BrokerSettings(port=_free_port()))
        from robot_dog.teleop.certs import issue_teleop_cert
        cert, key = issue_teleop_cert(root, "dog1")
        self.ca = fleet.load_fleet(root).paths.ca_cert
        self.mcu = VirtualMcu(tmp / "mcu", seed=7).start()
        self.port = _free_port()
        from tests.fixtures.processes import Children  # the tests' reaper: SIGINT all, then SIGKILL
        self.children = Children()
        safety, teleop, payload = self.NODES
        self._spawn(safety, "safety")
        self._spawn(teleop, "teleop", port=self.port, cert_file=cert, key_file=key)
        self._spawn(payload, "payload", port=tmp / "mcu")

    def _spawn(self, module: str, name: str, **params: object) -> subprocess.Popen:
        args = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:={self.ns}"]
        for k, v in params.items():
            args += ["-p", f"{k}:={v}"]
        with open(self.tmp / f"{name}.log", "w") as log:
            return self.children.spawn(*args, stdout=log, stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        self.children.reap()
        self.mcu.stop()


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.001)
    raise RuntimeError(f"timed out waiting for {what}")


class BenchNode(RosNode):
    """A node of this process (the tests' RosNode: a context of its own), spun by a thread."""

    def spin(self) -> None:
        threading.Thread(target=self._spin, daemon=True).start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 (shut down)
            pass


class Probe(BenchNode):
    def __init__(self, ns: str) -> None:
        from geometry_msgs.msg import Twist
        from robot_dog_interfaces.msg import EstopState

        from robot_dog.ros import qos
        super().__init__("bench_probe", ns)
        self.cmd: list[tuple[float, float]] = []
        self._clients: dict = {}
        self.estop: list[bool] = []
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        deep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)  # a slow probe drops nothing
        self.node.create_subscription(Twist, "cmd_vel", lambda m: self.cmd.append(
            (time.perf_counter(), round(m.linear.x, 4))), deep)
        self.node.create_subscription(EstopState, "estop", lambda m: self.estop.append(m.engaged),
                                      qos.STATE)
        self.spin()

    def client(self, srv_type, name: str):
        """A client, created and discovered once (not inside a measurement)."""
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(srv_type, name)
            if not self._clients[key].wait_for_service(timeout_sec=30):
                raise RuntimeError(f"{name} not served")
        return self._clients[key]

    def call(self, srv_type, name: str, **fields):
        client = self.client(srv_type, name)
        done = threading.Event()
        future = client.call_async(srv_type.Request(**fields))
        future.add_done_callback(lambda _f: done.set())
        done.wait(10)
        return future.result()


def pairing_code(stack: Stack) -> str:
    """A new code from `robot-dog teleop pair` (the dog never logs its codes)."""
    from robot_dog.ros import dds_env
    out = subprocess.run([sys.executable, "-m", "robot_dog.cli", "teleop", "pair", "--ns", stack.ns,
                          "--officer", "bench-officer"],
                         env=dds_env.environ(), capture_output=True, text=True, timeout=120)
    return re.search(r"pairing code: (\d{6})", out.stdout).group(1)


class Phone:
    def __init__(self, stack: Stack) -> None:
        from websockets.sync.client import connect
        ctx = ssl.create_default_context(cafile=str(stack.ca))
        code = pairing_code(stack)
        self.ws = connect(f"wss://127.0.0.1:{stack.port}/ws", ssl=ctx, open_timeout=30,
                          origin=f"https://127.0.0.1:{stack.port}").__enter__()
        self.seq = 0
        self._lock = threading.Lock()
        self.results: list[tuple[float, dict]] = []   # (perf_counter, result frame)
        self.send("pair", code=code)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            for msg in self.ws:
                if isinstance(msg, str) and ('"result"' in msg or '"refused"' in msg):
                    self.results.append((time.perf_counter(), json.loads(msg)))
        except Exception:  # noqa: BLE001 (closed)
            pass

    def send(self, t: str, **fields) -> float:
        with self._lock:   # a heartbeat thread sends too: seq must reach the dog in order
            self.seq += 1
            self.ws.send(json.dumps({"t": t, "seq": self.seq, **fields}))
            return time.perf_counter()


def latency(stack: Stack, probe: Probe, phone: Phone) -> dict[str, object]:
    """Decreasing speeds (slowing down is never ramped) so each frame's value shows on cmd_vel."""
    sent: list[tuple[float, float]] = []
    estop_seen = len(probe.estop)
    for i in range(FRAMES):
        x = round(0.6 - 0.001 * (i % 200), 4)
        sent.append((phone.send("drive", x=x, z=0.0), x))
        phone.send("beat") if i % 2 else None
        time.sleep(0.05)
    phone.send("stop")
    time.sleep(0.5)
    samples, missing = [], 0
    received = list(probe.cmd)
    for (t, x), (_, prev) in zip(sent[1:], sent):
        if x >= prev:
            continue  # the wrap back up is ramped: not a latency sample
        # values repeat every 200 frames (10 s): a match later than 1 s is that repeat, not this
        hit = next((rt for rt, v in received if t <= rt <= t + 1.0 and v == x), None)
        if hit is not None:
            samples.append((hit - t) * 1000)
        else:
            missing += 1
    # A stall of this process longer than the handheld's 0.5 s deadline engages the e-stop (as
    # designed): the frames after it drive nothing and count as not seen.
    return {"ws_frames_sent": FRAMES, "ws_samples": len(samples), "ws_not_seen_within_1s": missing,
            "ws_estop_engaged_during_run": any(probe.estop[estop_seen:]),
            **summary(samples, "ws_to_cmd_vel", "ms",
                      "drive frames matched on cmd_vel (is the e-stop engaged? see the safety log)"),
            "ws_goal_p99_le_20ms": percentile(samples, 0.99) <= 20.0}


def drive_for(phone: Phone, seconds: float) -> float:
    """Drive at 20 Hz for `seconds`; returns when the last frame went (perf_counter)."""
    end, last = time.monotonic() + seconds, 0.0
    while time.monotonic() < end:
        last = phone.send("drive", x=0.5, z=0.0)
        phone.send("beat")
        time.sleep(0.05)
    return last


def release_and_loss(stack: Stack, probe: Probe, phone: Phone) -> dict[str, object]:
    release, loss = [], []
    for _ in range(TRIALS_REAL):
        drive_for(phone, 0.5)
        t = phone.send("stop")
        zero = _wait(lambda t=t: next((rt for rt, v in list(probe.cmd) if rt >= t and v == 0.0), None),
                     "zero after release", 10)
        release.append(zero - t)
    for _ in range(TRIALS_REAL // 2):
        t = drive_for(phone, 0.5)          # the link goes silent after this frame
        zero = _wait(lambda t=t: next((rt for rt, v in list(probe.cmd) if rt >= t and v == 0.0), None),
                     "zero after link loss", 10)
        loss.append(zero - t)
        _wait(lambda: probe.estop and probe.estop[-1], "the handheld's deadline engaging", 10)
        for _ in range(5):                  # back in range: heartbeats, then an explicit release
            phone.send("beat")
            time.sleep(0.05)
        phone.send("release")
        _wait(lambda: not probe.estop[-1], "release", 10)
    return {"real_release_trials": len(release),
            "real_release_to_zero_max_ms": max(release) * 1000,
            "real_link_loss_trials": len(loss),
            "real_link_loss_to_zero_p50_ms": percentile(loss, 0.5, "link-loss trials") * 1000,
            "real_link_loss_to_zero_max_ms": max(loss) * 1000,
            "real_goal_met": max(release) <= 0.5 and max(loss) <= 0.5}


class SlowSiren(BenchNode):
    """`megaphone/siren` answered after 1 s (no megaphone runs in this stack): the slow page
    request. Its own node, context and executor thread, so the wait holds up nothing else."""

    def __init__(self, ns: str, delay_s: float = 1.0) -> None:
        from robot_dog_interfaces.srv import Siren
        super().__init__("bench_slow_siren", ns)

        def answer(_request, response):
            time.sleep(delay_s)   # the slow payload this bench stands in for
            response.accepted, response.code, response.message = True, "ok", "slow siren"
            return response
        self.node.create_service(Siren, "megaphone/siren", answer)
        self.spin()


def _answered(phone: Phone, seen: int, kind: str) -> float:
    """When the first result of `kind` after result number `seen` arrived (perf_counter); a
    refusal in between ends the benchmark with its reason."""
    def answered() -> float | None:
        for rt, r in phone.results[seen:]:
            if r["t"] == "refused":
                raise RuntimeError(f"waiting for the {kind} result: refused: {r['reason']}")
            if r["kind"] == kind:
                return rt
        return None
    return _wait(answered, f"the {kind} result", 30)


def request(phone: Phone, kind: str, **fields) -> tuple[float, dict]:
    """Send a page request; (when it was sent, its result) once the result is back."""
    seen = len(phone.results)
    sent = phone.send(kind, **fields)
    _answered(phone, seen, kind)
    return sent, next(r for _, r in phone.results[seen:] if r["kind"] == kind)


def estop_after_slow_request(stack: Stack, phone: Phone) -> dict[str, object]:
    """`siren` takes 1 s on the dog; an E-STOP sent 50 ms after it must not wait for it: time
    from the E-STOP frame to its result on the phone."""
    samples: list[float] = []
    stop = threading.Event()

    def beat() -> None:                     # the page's heartbeat goes on meanwhile
        while not stop.is_set():
            phone.send("beat")
            time.sleep(0.1)
    siren = SlowSiren(stack.ns)
    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        # until the teleop node has discovered the service ("not available" before)
        _wait(lambda: request(phone, "siren", on=False)[1]["ok"] or time.sleep(0.1),
              "the slow siren served", 60)   # paced: well under the page's frame rate limit
        for _ in range(TRIALS_REAL):
            seen = len(phone.results)
            phone.send("siren", on=True)
            time.sleep(0.05)
            t = phone.send("estop")
            samples.append((_answered(phone, seen, "estop") - t) * 1000)
            _answered(phone, seen, "siren")
            request(phone, "release")
    finally:
        stop.set()
        beater.join()
        siren.close()
    return {"estop_after_slow_request_trials": len(samples),
            "estop_after_slow_request_p50_ms": percentile(samples, 0.5, "E-STOP results"),
            "estop_after_slow_request_max_ms": max(samples),
            "estop_after_slow_request_goal_lt_100ms": max(samples) < 100.0}


def estop_to_safe(stack: Stack, probe: Probe) -> dict[str, object]:
    from robot_dog_interfaces.srv import EstopEngage, EstopRelease
    _wait(lambda: "payload MCU on" in stack.log("payload"), "payload node", 60)
    samples = []
    probe.client(EstopEngage, "estop/engage")
    probe.client(EstopRelease, "estop/release")
    for i in range(TRIALS_REAL):
        _wait(lambda: not stack.mcu.snapshot()["safe"], "payload not safe", 30)
        t = time.perf_counter()
        probe.call(EstopEngage, "estop/engage", endpoint="station", reason=f"bench {i}")
        _wait(lambda: "COMMANDED" in stack.mcu.snapshot()["safe_reasons"], "payload safe", 10)
        samples.append((time.perf_counter() - t) * 1000)
        probe.call(EstopRelease, "estop/release", endpoint="station")
    return {"estop_trials": len(samples),
            **summary(samples, "estop_to_payload_safe", "ms", "e-stop trials"),
            "estop_goal_le_100ms_plus_serial": max(samples) <= 100.0 + 1.0}


def run() -> dict[str, object]:
    figures = {"load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count()}
    figures |= core_trials()
    with tempfile.TemporaryDirectory(prefix="bench_teleop_") as tmp:
        stack = Stack(Path(tmp))
        probe = None
        try:
            probe = Probe(stack.ns)
            _wait(lambda: "handheld page on" in stack.log("teleop"), "teleop node", 60)
            phone = Phone(stack)
            # warm-up: drive until discovery is done and cmd_vel reaches the probe
            _wait(lambda: drive_for(phone, 0.2) and probe.cmd, "cmd_vel", 120)
            drive_for(phone, 1.0)
            figures |= latency(stack, probe, phone)
            figures |= release_and_loss(stack, probe, phone)
            figures |= estop_after_slow_request(stack, phone)
            phone.send("beat")
            phone.send("leave")                    # the phone is done: no deadline to hold the dog
            figures |= estop_to_safe(stack, probe)
        finally:
            if probe is not None:
                probe.close()
            stack.close()
    return figures
