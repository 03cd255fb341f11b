"""safety_node on sim time (`use_sim_time`): its input timeouts and watchdog count the clock on
`/clock`, not the wall. This test is the clock: it advances `/clock` slowly (0.1 s of sim time
per second), so a command stays valid for several wall seconds, far past its 0.5 s timeout in
wall time, and lapses as soon as 0.5 s of sim time have passed. That is what lets a simulated
run go faster (or slower) than real time through the mux: commands neither lapse early nor
outlive their time. Real safety_node process, real rclpy; the walk at 5x real time is
tests/test_sim_faster_than_real_time_e2e.py."""
from __future__ import annotations

import threading
import time
import uuid
from functools import partial

import pytest
from geometry_msgs.msg import Twist
from rosgraph_msgs.msg import Clock

from robot_dog.ros import qos
from robot_dog_interfaces.msg import MotionState
from robot_dog_interfaces.srv import MotionResume
from tests import support
from tests.fixtures.ros_nodes import NodeProcess, RosProbe

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)
START_S = 1000.0        # sim time at the start
SIM_PER_WALL = 0.1      # the clock's pace: 0.1 s of sim time per wall second


class SimClock:
    """Publishes `/clock` every 20 ms of wall time, `SIM_PER_WALL` times as fast, up to `limit`."""

    def __init__(self, probe: RosProbe) -> None:
        self.now, self.limit = START_S, START_S
        self.pub = probe.node.create_publisher(Clock, "/clock", 10)
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.now = min(self.limit, self.now + 0.02 * SIM_PER_WALL)
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = int(self.now), int(round(self.now % 1 * 1e9))
            self.pub.publish(msg)

    def stop(self) -> None:
        self._stop.set()


def test_input_timeouts_count_sim_time(tmp_path):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    probe = RosProbe(namespace)
    clock = SimClock(probe)
    safety = NodeProcess("robot_dog.safety.node", namespace, tmp_path / "safety.log", use_sim_time=True)
    try:
        probe.record(Twist, "cmd_vel", qos.COMMAND)
        probe.record(MotionState, "motion/state", qos.STATE)
        clock.limit = START_S + 3600.0
        wait_for(lambda: probe.messages("motion/state"), "safety_node on the sim clock")
        assert probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station").accepted
        patrol = probe.node.create_publisher(Twist, "patrol/cmd_vel", qos.COMMAND)
        command = Twist()
        command.linear.x = 0.2
        wait_for(lambda: probe.node.count_subscribers(f"{namespace}/patrol/cmd_vel") > 0,
                 "safety_node listening to patrol/cmd_vel")
        # One command, then 0.3 s of sim time (3 s of wall time): it must still drive at the end,
        # on no further message. It arrives at or after `sent` on safety_node's clock. (0.4 s was
        # the watchdog's own bound: judged on the boundary, it lapsed in one CI run of many.)
        sent, sent_wall = clock.now, time.monotonic()
        clock.limit = sent + 0.3
        patrol.publish(command)
        wait_for(lambda: any(m.winner == "patrol" for m in probe.messages("motion/state")),
                 "the patrol winning the mux")
        wait_for(lambda: clock.now >= clock.limit, "0.3 s of sim time")
        time.sleep(0.5)  # what safety_node saw of the clock by now has reached it
        assert time.monotonic() - sent_wall > 2.5        # far past 0.5 s of wall time
        latest = probe.messages("motion/state")[-1]
        assert latest.winner == "patrol", latest             # still live on sim time
        assert probe.messages("cmd_vel")[-1].linear.x > 0.0
        # 0.3 s more of sim time, past the input's 0.5 s timeout: it lapses
        lapse_from = time.monotonic()
        clock.limit = sent + 0.6
        wait_for(lambda: any(m.winner != "patrol" for m in probe.messages("motion/state", since=lapse_from)),
                 "the patrol's input to lapse on sim time")
        wait_for(lambda: probe.messages("cmd_vel")[-1].linear.x == 0.0, "zero velocity after the lapse")
    finally:
        clock.stop()
        safety.kill()
        probe.close()
