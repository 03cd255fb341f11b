"""The payload's e-stop paths with real processes: e-stop -> payload safe, the MCU's button ->
`cmd_vel` zero, an unplugged payload link -> `cmd_vel` zero. Part of `./dev.sh bench serial`.

safety_node, payload_node and the echo base run as processes; the virtual MCU runs on a pty in
this process; a ROS probe here drives `teleop/cmd_vel` at 20 Hz and records `cmd_vel`. Times are
from the action (the engage request sent, the button pressed, the cable pulled) to the MCU's
telemetry state or the first zero on `cmd_vel`, on this process's clock. `bench_serial.run()`
runs this after its own figures (the serial round trip sets the e-stop goal). Trial counts:
`ROBOT_DOG_BENCH_ESTOP_TRIALS` (e-stop -> payload safe, 1,000), `ROBOT_DOG_BENCH_BUTTON_TRIALS`
(100), `ROBOT_DOG_BENCH_UNPLUG_TRIALS` (30).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.bench_teleop import Probe, _wait
from bench.stats import percentile, summary

ESTOP_TRIALS = int(os.environ.get("ROBOT_DOG_BENCH_ESTOP_TRIALS", "1000"))
BUTTON_TRIALS = int(os.environ.get("ROBOT_DOG_BENCH_BUTTON_TRIALS", "100"))
UNPLUG_TRIALS = int(os.environ.get("ROBOT_DOG_BENCH_UNPLUG_TRIALS", "30"))
STOP_GOAL_S = 0.5
SAFE_GOAL_MS = 100.0   # plus the serial round trip (bench_serial's p99)


class Chain:
    """safety_node + payload_node + echo base as processes; the virtual MCU in this process."""

    def __init__(self, tmp: Path) -> None:
        from firmware_bridge.virtual_mcu.device import VirtualMcu
        from tests.fixtures.processes import Children   # the tests' reaper: SIGINT, then SIGKILL
        self.ns = f"/bench{uuid.uuid4().hex[:6]}"
        self.tmp = tmp
        self.mcu = VirtualMcu(tmp / "mcu", seed=11).start()
        self.children = Children()
        for module, name, params in (("robot_dog.safety.node", "safety", {}),
                                     ("robot_dog.base.echo_node", "base", {}),
                                     ("robot_dog.payload.node", "payload", {"port": tmp / "mcu"})):
            args = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:={self.ns}"]
            for key, value in params.items():
                args += ["-p", f"{key}:={value}"]
            with open(tmp / f"{name}.log", "w") as log:
                self.children.spawn(*args, stdout=log, stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        self.children.reap()
        self.mcu.stop()


class Driver:
    """teleop/cmd_vel at 20 Hz from the probe's node; `vx` None sends nothing."""

    def __init__(self, probe: Probe) -> None:
        from geometry_msgs.msg import Twist

        from robot_dog.ros import qos
        self.vx: float | None = None
        self._twist = Twist
        self._node = probe.node
        self._pub = probe.node.create_publisher(Twist, "teleop/cmd_vel", qos.COMMAND)
        self._timer = probe.node.create_timer(0.05, self._send)

    def close(self) -> None:
        self.vx = None
        self._node.destroy_timer(self._timer)

    def _send(self) -> None:
        if self.vx is not None:
            msg = self._twist()
            msg.linear.x = self.vx
            self._pub.publish(msg)


def _drive(probe: Probe, driver: Driver) -> None:
    """Moving again: neutral first, then deflected (a fresh action for a restart interlock)."""
    driver.vx = 0.0
    time.sleep(0.2)
    driver.vx = 0.3
    _wait(lambda: any(v == 0.3 for t, v in probe.cmd[-3:]), "driving again", 30)


def _first_zero_after(probe: Probe, since: float) -> float:
    def found() -> float | None:
        return next((t for t, v in list(probe.cmd) if t > since and v == 0.0), None)
    return _wait(found, "zero on cmd_vel", 10)


def _release(probe: Probe, endpoint: str) -> None:
    from robot_dog_interfaces.srv import EstopRelease
    def released() -> bool:
        reply = probe.call(EstopRelease, "estop/release", endpoint=endpoint)
        return reply is not None and reply.accepted
    _wait(lambda: released() or time.sleep(0.1), f"release of {endpoint}", 30)
    _wait(lambda: probe.estop and not probe.estop[-1], "released", 30)


def _summary(name: str, samples_s: list[float], goal_s: float) -> dict[str, object]:
    ms = [s * 1000 for s in samples_s]
    return {f"{name}_trials": len(ms), **summary(ms, name, "ms", f"{name} trials"),
            f"{name}_over_goal": sum(1 for s in samples_s if s > goal_s),
            f"{name}_goal_ms": goal_s * 1000}


def estop_to_payload_safe(chain: Chain, probe: Probe, rtt_ms: float) -> dict[str, object]:
    """Stages, so an outlier names where it was: the engage's answer (safety_node), the e-stop
    state seen here (its publish, the same hop payload_node's subscription takes), the MCU's
    commanded safe state (payload_node, the serial link, the MCU)."""
    from robot_dog_interfaces.msg import EstopState
    from robot_dog_interfaces.srv import EstopEngage

    from robot_dog.ros import qos
    engaged_at: list[float] = []
    probe.node.create_subscription(
        EstopState, "estop", lambda m: m.engaged and engaged_at.append(time.perf_counter()),
        qos.STATE)
    total, answered, seen, payload = [], [], [], []
    for i in range(ESTOP_TRIALS):
        _wait(lambda: not chain.mcu.snapshot()["safe"], "payload not safe", 30)
        engaged_at.clear()
        started = time.perf_counter()
        probe.call(EstopEngage, "estop/engage", endpoint="station", reason=f"bench {i}")
        replied = time.perf_counter()
        _wait(lambda: "COMMANDED" in chain.mcu.snapshot()["safe_reasons"], "payload safe", 10)
        safe = time.perf_counter()
        published = _wait(lambda: engaged_at and engaged_at[0], "estop seen", 10)
        total.append(safe - started)
        answered.append(replied - started)
        seen.append(published - started)
        payload.append(max(0.0, safe - published))
        _release(probe, "station")
    return {**_summary("estop_to_payload_safe", total, (SAFE_GOAL_MS + rtt_ms) / 1000),
            "estop_stage_engage_answered_max_ms": max(answered) * 1000,
            "estop_stage_state_seen_max_ms": max(seen) * 1000,
            "estop_stage_seen_to_payload_safe_p99_ms": percentile(payload, 0.99) * 1000,
            "estop_stage_seen_to_payload_safe_max_ms": max(payload) * 1000}


def button_to_zero(chain: Chain, probe: Probe, driver: Driver) -> dict[str, object]:
    samples = []
    for _ in range(BUTTON_TRIALS):
        _drive(probe, driver)
        pressed = time.perf_counter()
        chain.mcu.set_button(True)
        samples.append(_first_zero_after(probe, pressed) - pressed)
        chain.mcu.set_button(False)
        _wait(lambda: "BUTTON" not in chain.mcu.snapshot()["safe_reasons"], "pulled out", 10)
        time.sleep(0.15)          # telemetry shows it out: payload_node stops re-engaging
        _release(probe, "button")
    return _summary("button_to_zero", samples, STOP_GOAL_S)


def unplug_to_zero(chain: Chain, probe: Probe, driver: Driver) -> dict[str, object]:
    samples = []
    for _ in range(UNPLUG_TRIALS):
        _drive(probe, driver)
        pulled = time.perf_counter()
        threading.Thread(target=chain.mcu.unplug, args=(0.6,), daemon=True).start()
        samples.append(_first_zero_after(probe, pulled) - pulled)
        _wait(lambda: chain.mcu.plugged, "plugged back", 10)
        time.sleep(0.8)           # the link is back and checking in again
        _release(probe, "mcu")
    return _summary("unplug_to_zero", samples, STOP_GOAL_S)


def run(rtt_ms: float = 1.0) -> dict[str, object]:
    figures: dict[str, object] = {"load_average_1min": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench_payload_estop_") as tmp:
        chain = Chain(Path(tmp))
        probe = None
        try:
            probe = Probe(chain.ns)
            _wait(lambda: "payload MCU on" in chain.log("payload"), "payload node", 60)
            _wait(lambda: probe.estop, "safety_node", 60)
            driver = Driver(probe)
            _drive(probe, driver)
            figures |= button_to_zero(chain, probe, driver)
            figures |= unplug_to_zero(chain, probe, driver)
            driver.close()
            figures |= estop_to_payload_safe(chain, probe, rtt_ms)
        finally:
            # The processes first: a probe whose context shuts down while they still talk to it
            # was seen spinning on the GIL, which starves this thread's reaping.
            chain.close()
            if probe is not None:
                probe.close()
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<40} {value}")
