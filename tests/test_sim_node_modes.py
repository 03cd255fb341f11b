"""sim_node as the base behind safety_node (real processes, real rclpy, a namespace per test):
`mode/set` sit stops the simulated dog and it refuses motion, even a `cmd_vel` that bypasses
safety_node; stand lets it walk again. Positions come from the simulator's `odom`."""
from __future__ import annotations

import time
from functools import partial

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from robot_dog_interfaces.msg import BaseState
from robot_dog_interfaces.srv import SetBaseMode

from robot_dog.ros import qos
from tests import support
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_safety_node_e2e import Driver

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)


@pytest.fixture
def sim_chain(dog_namespace, tmp_path):
    safety = NodeProcess("robot_dog.safety.node", dog_namespace, tmp_path / "safety.log")
    sim = NodeProcess("sim.node", dog_namespace, tmp_path / "sim.log", mode="kinematic",
                      scenario="plaza_day", render=False, street_audio=False)
    try:
        yield safety, sim
    finally:
        safety.kill()
        sim.kill()
    assert "Traceback" not in sim.output(), sim.output()


def x_since(probe, t: float) -> list[float]:
    return [m.pose.pose.position.x for m in probe.messages("odom", since=t)]


def test_sit_stops_the_simulated_dog_and_stand_lets_it_walk(sim_chain, ros_probe):
    safety, sim = sim_chain
    probe = ros_probe
    probe.record(Odometry, "odom", qos.TELEMETRY)
    probe.record(BaseState, "base/state", qos.STATE)
    wait_for(lambda: probe.messages("base/state") and probe.messages("odom"), "sim_node up")
    assert (probe.messages("base/state")[-1].mode, probe.messages("base/state")[-1].moving) == ("stand", False)

    teleop = Driver(probe, "gamepad")
    teleop.vx = 0.3
    wait_for(lambda: probe.messages("base/state")[-1].moving, "the base reporting it moves")
    t = time.monotonic()
    wait_for(lambda: len(x := x_since(probe, t)) > 1 and x[-1] - x[0] > 0.2, "walking forward")
    refused = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert (refused.accepted, refused.code) == (False, "moving")

    teleop.stop()
    wait_for(lambda: not probe.messages("base/state")[-1].moving, "the base stopped")
    sat = probe.call(SetBaseMode, "mode/set", mode="sit")
    assert sat.accepted, sat.message
    wait_for(lambda: probe.messages("base/state")[-1].mode == "sit", "base/state: sit")

    # A rogue publisher straight to the base's cmd_vel: the simulator refuses it itself.
    rogue = probe.node.create_publisher(Twist, "cmd_vel", qos.COMMAND)
    t = time.monotonic()
    push = Twist()
    push.linear.x = 0.3
    wait_for(lambda: rogue.publish(push) or "in sit: cannot walk" in sim.output(),
             "the simulator refusing cmd_vel while sitting")
    for _ in range(20):            # keep pushing for a while, then look at where the dog is
        rogue.publish(push)
        time.sleep(0.05)
    wait_for(lambda: len(x_since(probe, t)) > 20, "odom while sitting")
    xs = x_since(probe, t)
    assert max(xs) - min(xs) < 0.01, (min(xs), max(xs))
    assert not probe.messages("base/state")[-1].moving

    assert probe.call(SetBaseMode, "mode/set", mode="stand").accepted
    wait_for(lambda: probe.messages("base/state")[-1].mode == "stand", "base/state: stand")
    t = time.monotonic()
    teleop.vx = 0.3
    wait_for(lambda: len(x := x_since(probe, t)) > 1 and x[-1] - x[0] > 0.2, "walking again")
    teleop.stop()
