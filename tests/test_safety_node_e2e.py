"""safety_node and the echo base as real processes; inputs, services and outputs from this process
through real rclpy (localhost-only discovery, a namespace per test). Zero-velocity checks look
at the first command after an event (the watchdog's contract), never at wall-clock bounds."""
from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import pytest
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from robot_dog_interfaces.msg import BaseState, EstopState, MotionState
from robot_dog_interfaces.srv import (EstopCheckIn, EstopEngage, EstopRelease, MotionResume,
                                      SetBaseMode)
from std_srvs.srv import SetBool

from rclpy.duration import Duration

from robot_dog.ros import qos
from robot_dog.safety.mux import DEFAULT_INPUTS
from tests import support
from tests.fixtures.ros_nodes import NodeProcess

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


TOPICS = {s.name: s.topic for s in DEFAULT_INPUTS}


class Driver:
    """Publishes `vx` on the mux input of `source` at 20 Hz while `vx` is not None; `handheld`
    as TwistStamped stamped `age_s` in the past (the page's send time), the others as Twist."""

    def __init__(self, probe, source: str, age_s: float = 0.0) -> None:
        self.vx: float | None = None
        self.node, self.age_s, self.stamped = probe.node, age_s, source == "handheld"
        self.pub = probe.node.create_publisher(TwistStamped if self.stamped else Twist,
                                               TOPICS[source], qos.COMMAND)
        self.stopped_at = 0.0
        probe.node.create_timer(0.05, self._send)

    def _send(self) -> None:
        if self.vx is not None:
            self.publish(self.vx)

    def publish(self, value: float) -> None:
        msg = Twist()
        msg.linear.x = value
        if self.stamped:
            stamped = TwistStamped(twist=msg)
            stamped.header.stamp = (self.node.get_clock().now()
                                    - Duration(nanoseconds=int(self.age_s * 1e9))).to_msg()
            msg = stamped
        self.pub.publish(msg)

    def stop(self) -> float:
        """Let go: one zero (as every teleop sends), then silence."""
        self.vx, self.stopped_at = None, time.monotonic()
        self.publish(0.0)
        return self.stopped_at

    def freeze(self) -> float:
        """Silence mid-drive, no zero (a frozen client, a stalled link)."""
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
    patrol, teleop = Driver(probe, "patrol"), Driver(probe, "gamepad")
    ok = probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station")
    assert ok.accepted and ok.code == "ok", ok.message
    patrol.vx = 0.2
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel")), "patrol's 0.2 m/s on cmd_vel")
    wait_for(lambda: any(abs(m.twist.twist.linear.x - 0.2) < 1e-6 for m in probe.messages("odom")),
             "the echo base following")
    teleop.vx = -0.3
    wait_for(lambda: any(m.winner == "gamepad" for m in probe.messages("motion/state")),
             "the gamepad to win over patrol")
    wait_for(lambda: -0.3 in vx(probe.messages("cmd_vel")), "the gamepad's command on cmd_vel")
    t = teleop.stop()
    # let go: the patrol, still publishing, does not take over by itself
    wait_for(lambda: probe.messages("motion/state", since=t + 1.0)
             and "patrol" in probe.messages("motion/state")[-1].waiting, "patrol paused")
    assert all(v <= 0.0 for v in vx(probe.messages("cmd_vel", since=t)))
    assert probe.call(MotionResume, "motion/resume", input="patrol", endpoint="handheld").accepted
    t = time.monotonic()
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel", since=t)), "patrol resumed")

    # watchdog: after the last input the first command is zero, then cmd_vel is silent
    t = patrol.freeze()
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
    wait_for(lambda: "refused gamepad command: linear.x is nan: not finite" in safety_chain[0].output()
             and "above the limit 1 m/s" in safety_chain[0].output(), "refusals in the log")
    assert vx(probe.messages("cmd_vel", since=quiet_from)) in ([], [0.0])


def test_estop_engage_checkin_deadline_and_release_rules(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    teleop = Driver(probe, "gamepad")
    teleop.vx = 0.5
    wait_for(lambda: 0.5 in vx(probe.messages("cmd_vel")), "driving at 0.5 m/s")

    reply = probe.call(EstopEngage, "estop/engage", endpoint="station", reason="viewer")
    assert reply.accepted and reply.message == "engaged by station: viewer" and reply.hold_id
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
    assert not refused.accepted and refused.code == "not_held" and "held by station" in refused.message
    older = probe.call(EstopRelease, "estop/release", endpoint="station",
                       issued_at=time.time() - 60)
    assert not older.accepted and older.code == "release_before_hold"
    wait_for(lambda: "security event" in safety_chain[0].output(), "the security event logged")
    wrong = probe.call(EstopRelease, "estop/release", endpoint="station", hold_id="0badc0ffee00")
    assert not wrong.accepted and wrong.code == "hold_mismatch"
    assert probe.call(EstopRelease, "estop/release", endpoint="station", hold_id=reply.hold_id).accepted
    wait_for(lambda: not probe.messages("estop")[-1].engaged, "released")
    teleop.stop()

    # a heartbeat endpoint that goes quiet: controlled stop, held until it checks in and releases
    ok = probe.call(EstopCheckIn, "estop/check_in", endpoint="handheld", timeout_s=0.3)
    assert ok.accepted and "handheld joined" in ok.message
    wait_for(lambda: probe.messages("estop")[-1].stale_endpoints == ["handheld"], "stale handheld")
    assert probe.messages("estop")[-1].engaged
    teleop.vx = 0.4                     # deflected while held: must be re-centred after release
    time.sleep(0.5)
    assert 0.4 not in vx(probe.messages("cmd_vel", since=time.monotonic() - 0.4))
    no = probe.call(EstopRelease, "estop/release", endpoint="handheld")
    assert not no.accepted and "check in before releasing" in no.message
    probe.call(EstopCheckIn, "estop/check_in", endpoint="handheld", timeout_s=0)   # leaves
    assert probe.call(EstopRelease, "estop/release", endpoint="handheld").accepted
    released = wait_for(lambda: [t for t, m in probe.got["estop"] if not m.engaged][-1:], "release")
    time.sleep(0.5)                     # still deflected since before the release: held
    assert 0.4 not in vx(probe.messages("cmd_vel", since=released[0]))
    teleop.stop()                       # re-centred ...
    teleop.vx = 0.4                     # ... and deflected again: a deliberate action
    wait_for(lambda: 0.4 in vx(probe.messages("cmd_vel", since=released[0])), "driving again")
    for name in ("phone", "unnamed", ""):
        bad = probe.call(EstopCheckIn, "estop/check_in", endpoint=name, timeout_s=0.5)
        assert not bad.accepted and bad.code == "unknown_endpoint"
        bad = probe.call(EstopRelease, "estop/release", endpoint=name)
        assert not bad.accepted and bad.code == "unknown_endpoint"


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
    assert again.returncode == 1 and "refused: not engaged (not_engaged)" in again.stdout


def test_modes_and_crowd_mode(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    teleop = Driver(probe, "keyboard")
    assert probe.call(SetBool, "speed_mode/crowd", data=True).success
    teleop.vx = 0.9
    wait_for(lambda: 0.5 in vx(probe.messages("cmd_vel")), "0.9 m/s limited to crowd mode's 0.5")
    assert max(vx(probe.messages("cmd_vel"))) == 0.5
    no = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert (no.accepted, no.code) == (False, "moving") and "while moving" in no.message
    t = teleop.stop()
    wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=t)), "stopped")
    # the base is the last word on "still moving": it may take the zero after the probe saw it
    wait_for(lambda: not probe.messages("base/state")[-1].moving, "the base to stop")
    yes = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert (yes.accepted, yes.code) == (True, "ok"), yes.message
    wait_for(lambda: probe.messages("base/state")[-1].mode == "sit", "the base sitting")
    t = time.monotonic()
    teleop.vx = 0.3
    wait_for(lambda: "base is in sit: stand first" in safety_chain[0].output(), "refusal logged")
    assert 0.3 not in vx(probe.messages("cmd_vel", since=t))
    assert probe.call(SetBaseMode, "mode/set", mode="stand").accepted
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel", since=t)), "walking after standing up")
    teleop.stop()


def _nice(pid: int, tid: int) -> int:
    # /proc/<pid>/task/<tid>/stat: field 19 is the nice value (after the command in parentheses)
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


def test_every_thread_of_safety_node_runs_at_a_raised_priority(safety_chain, ros_probe):
    """On a loaded CPU the watchdog must run when it wakes: the node, its executor and its DDS
    threads take nice -10 (robot_dog/ros/priority.py), or the log says why they could not."""
    safety, _base = safety_chain
    start(ros_probe)
    pid = safety.proc.pid
    tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    assert len(tids) > 1, "rclpy and DDS run threads of their own"
    nices = {tid: _nice(pid, tid) for tid in tids}
    if os.geteuid() == 0 or all(n == -10 for n in nices.values()):
        assert set(nices.values()) == {-10}, nices
    else:  # no CAP_SYS_NICE here: normal priority, and the log says so
        assert set(nices.values()) == {0}, nices
        assert "nice -10 refused" in safety.output()
    # With autogroups the session's nice is what weighs against other sessions' load: the node
    # leads a session of its own here (as under the launcher) and raises it too.
    if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" and os.geteuid() == 0:
        assert os.getsid(pid) == pid
        assert Path(f"/proc/{pid}/autogroup").read_text().split()[-1] == "-10"


def test_mode_without_a_base_is_refused_as_unavailable(dog_namespace, ros_probe, tmp_path):
    """mode/set checks, then asks the base: with no base behind it the answer says so as a code
    (the station and the handheld word `unavailable`), and the posture stays as it was."""
    safety = NodeProcess("robot_dog.safety.node", dog_namespace, tmp_path / "safety.log")
    try:
        ros_probe.record(MotionState, "motion/state", qos.STATE)
        no = ros_probe.call(SetBaseMode, "mode/set", mode="sit")
        assert (no.accepted, no.code) == (False, "unavailable"), no.message + safety.output()
        assert "base/set_mode" in no.message
        wait_for(lambda: ros_probe.messages("motion/state"), "motion/state")
        assert ros_probe.messages("motion/state")[-1].mode == "stand"
        unknown = ros_probe.call(SetBaseMode, "mode/set", mode="fly")
        assert (unknown.accepted, unknown.code) == (False, "unknown_mode")
    finally:
        safety.kill()
