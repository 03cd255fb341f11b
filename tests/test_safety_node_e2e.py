"""safety_node and the echo base as real processes; inputs, services and outputs from this process
through real rclpy (localhost-only discovery, a namespace per test). Zero-velocity checks look
at the first command after an event (the watchdog's contract), never at wall-clock bounds."""
from __future__ import annotations

import time
from functools import partial

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from robot_dog_interfaces.msg import BaseState, EstopState, MotionState
from robot_dog_interfaces.srv import EstopCheckIn, EstopEngage, EstopRelease, SetBaseMode
from std_srvs.srv import SetBool

from robot_dog.ros import qos
from tests import support

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


class Driver:
    """Publishes `vx` on `{source}/cmd_vel` at 20 Hz while `vx` is not None."""

    def __init__(self, probe, source: str) -> None:
        self.vx: float | None = None
        self.pub = probe.node.create_publisher(Twist, f"{source}/cmd_vel", qos.COMMAND)
        self.stopped_at = 0.0
        probe.node.create_timer(0.05, self._send)

    def _send(self) -> None:
        if self.vx is not None:
            msg = Twist()
            msg.linear.x = self.vx
            self.pub.publish(msg)

    def stop(self) -> float:
        self.vx, self.stopped_at = None, time.monotonic()
        return self.stopped_at


def start(probe):
    for msg_type, topic, profile in ((Twist, "cmd_vel", qos.COMMAND), (Odometry, "odom", qos.TELEMETRY),
                                     (EstopState, "estop", qos.STATE),
                                     (MotionState, "motion/state", qos.STATE),
                                     (BaseState, "base/state", qos.STATE)):
        probe.record(msg_type, topic, profile)
    wait_for(lambda: probe.messages("estop") and probe.messages("base/state"), "safety and base up")


def vx(msgs) -> list[float]:
    return [round(m.linear.x, 6) for m in msgs]


def test_arbitration_watchdog_and_echo_base(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    patrol, teleop = Driver(probe, "patrol"), Driver(probe, "teleop")
    patrol.vx = 0.2
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel")), "patrol's 0.2 m/s on cmd_vel")
    wait_for(lambda: any(abs(m.twist.twist.linear.x - 0.2) < 1e-6 for m in probe.messages("odom")),
             "the echo base following")
    teleop.vx = -0.3
    wait_for(lambda: any(m.winner == "teleop" for m in probe.messages("motion/state")),
             "teleop to win over patrol")
    wait_for(lambda: -0.3 in vx(probe.messages("cmd_vel")), "teleop's command on cmd_vel")
    t = teleop.stop()
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel", since=t)), "patrol to drive again")
    # teleop's last commands (in flight, maybe ramping), its zero, patrol ramping up: nothing else
    assert all(-0.3 <= v <= 0.2 for v in vx(probe.messages("cmd_vel", since=t)))

    # watchdog: after the last input the first command is zero, then cmd_vel is silent
    t = patrol.stop()
    wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=t)), "zero after silence")
    after = vx(probe.messages("cmd_vel", since=t))
    first_zero = after.index(0.0)
    assert all(v == 0.2 for v in after[:first_zero])
    quiet_from = time.monotonic()
    wait_for(lambda: not probe.messages("base/state")[-1].moving, "the base to stop")
    time.sleep(1.0)  # a negative check: nothing more may come during a second of silence
    assert vx(probe.messages("cmd_vel", since=quiet_from)) in ([], [0.0])

    # refused with a reason, nothing published
    bad = Twist()
    bad.linear.x = float("nan")
    teleop.pub.publish(bad)
    bad.linear.x = 3.0
    teleop.pub.publish(bad)
    wait_for(lambda: "refused teleop command: linear.x is nan: not finite" in safety_chain[0].output()
             and "above the limit 1 m/s" in safety_chain[0].output(), "refusals in the log")
    assert vx(probe.messages("cmd_vel", since=quiet_from)) in ([], [0.0])


def test_estop_engage_checkin_deadline_and_release_rules(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    teleop = Driver(probe, "teleop")
    teleop.vx = 0.5
    wait_for(lambda: 0.5 in vx(probe.messages("cmd_vel")), "driving at 0.5 m/s")

    reply = probe.call(EstopEngage, "estop/engage", endpoint="station", reason="viewer")
    assert reply.accepted and reply.message == "engaged by station: viewer"
    engaged_at = time.monotonic()
    wait_for(lambda: probe.messages("cmd_vel", since=engaged_at), "a command after the engage")
    # category 0: commands already in flight may land first, then zero and only zero
    after = vx(probe.messages("cmd_vel", since=engaged_at))
    wait_for(lambda: len(probe.messages("cmd_vel", since=engaged_at)) > 10, "held zeros")
    after = vx(probe.messages("cmd_vel", since=engaged_at))
    assert after[after.index(0.0):] == [0.0] * (len(after) - after.index(0.0))
    assert all(v in (0.5, 0.0) for v in after) and after.count(0.5) <= 2
    state = wait_for(lambda: [m for m in probe.messages("estop") if m.engaged], "latched estop")[-1]
    assert state.reason == "station: viewer"

    refused = probe.call(EstopRelease, "estop/release", endpoint="handheld")
    assert not refused.accepted and "held by station" in refused.message
    assert probe.call(EstopRelease, "estop/release", endpoint="station").accepted
    wait_for(lambda: not probe.messages("estop")[-1].engaged, "released")
    teleop.stop()

    # a heartbeat endpoint that goes quiet: controlled stop, held until it checks in and releases
    ok = probe.call(EstopCheckIn, "estop/check_in", endpoint="handheld", timeout_s=0.3)
    assert ok.accepted and "handheld joined" in ok.message
    wait_for(lambda: probe.messages("estop")[-1].stale_endpoints == ["handheld"], "stale handheld")
    assert probe.messages("estop")[-1].engaged
    teleop.vx = 0.4
    time.sleep(0.5)
    assert 0.4 not in vx(probe.messages("cmd_vel", since=time.monotonic() - 0.4))
    no = probe.call(EstopRelease, "estop/release", endpoint="handheld")
    assert not no.accepted and "check in before releasing" in no.message
    probe.call(EstopCheckIn, "estop/check_in", endpoint="handheld", timeout_s=0)   # leaves
    assert probe.call(EstopRelease, "estop/release", endpoint="handheld").accepted
    released = wait_for(lambda: [t for t, m in probe.got["estop"] if not m.engaged][-1:], "release")
    wait_for(lambda: 0.4 in vx(probe.messages("cmd_vel", since=released[0])), "driving again")
    bad = probe.call(EstopCheckIn, "estop/check_in", endpoint="phone", timeout_s=0.5)
    assert not bad.accepted and "unknown e-stop endpoint" in bad.message


def test_admin_release_from_the_cli_clears_a_lost_handhelds_hold(safety_chain, ros_probe,
                                                                  dog_namespace):
    import subprocess
    import sys

    from robot_dog.ros import dds_env
    probe = ros_probe
    start(probe)
    assert probe.call(EstopCheckIn, "estop/check_in", endpoint="handheld", timeout_s=0.2).accepted
    wait_for(lambda: probe.messages("estop")[-1].stale_endpoints == ["handheld"], "lost handheld")
    run = partial(subprocess.run, [sys.executable, "-m", "robot_dog.cli", "teleop", "admin-release",
                                   "--ns", dog_namespace], env=dds_env.environ(),
                  capture_output=True, text=True, timeout=60)
    out = run()
    assert out.returncode == 0, out.stderr
    assert "released: admin released every hold (handheld)" in out.stdout
    wait_for(lambda: not probe.messages("estop")[-1].engaged, "released")
    assert probe.messages("estop")[-1].endpoints == []      # the lost handheld is forgotten
    again = run()
    assert again.returncode == 1 and "refused: not engaged" in again.stdout


def test_modes_and_crowd_mode(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    teleop = Driver(probe, "teleop")
    assert probe.call(SetBool, "speed_mode/crowd", data=True).success
    teleop.vx = 0.9
    wait_for(lambda: 0.5 in vx(probe.messages("cmd_vel")), "0.9 m/s limited to crowd mode's 0.5")
    assert max(vx(probe.messages("cmd_vel"))) == 0.5
    no = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert not no.accepted and "while moving" in no.reason
    t = teleop.stop()
    wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=t)), "stopped")
    # the base is the last word on "still moving": it may take the zero after the probe saw it
    wait_for(lambda: not probe.messages("base/state")[-1].moving, "the base to stop")
    yes = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert yes.accepted, yes.reason
    wait_for(lambda: probe.messages("base/state")[-1].mode == "sit", "the base sitting")
    t = time.monotonic()
    teleop.vx = 0.3
    wait_for(lambda: "base is in sit: stand first" in safety_chain[0].output(), "refusal logged")
    assert 0.3 not in vx(probe.messages("cmd_vel", since=t))
    assert probe.call(SetBaseMode, "mode/set", mode="stand").accepted
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel", since=t)), "walking after standing up")
    teleop.stop()
