"""gamepad_node without a device (this machine has no /dev/input): a clear error in the log, the
node stays up, publishes nothing, and sends zero on its way out."""
from __future__ import annotations

import signal

import pytest
from geometry_msgs.msg import Twist

from robot_dog.ros import qos
from tests.fixtures.ros_nodes import NodeProcess
from tests.support import wait_for

pytestmark = pytest.mark.slow


def test_missing_device_is_logged_and_exit_sends_zero(dog_namespace, ros_probe, tmp_path):
    probe = ros_probe
    probe.record(Twist, "teleop/gamepad/cmd_vel", qos.COMMAND)
    missing = tmp_path / "event-gamepad"
    node = NodeProcess("robot_dog.teleop.gamepad_node", dog_namespace, tmp_path / "gamepad.log",
                       device=missing)
    try:
        wait_for(lambda: f"gamepad {missing}: [Errno 2] No such file or directory" in node.output(),
                 "the missing device in the log")
        # Constructed (its last log line), not only publishing: a stop inside the constructor
        # ends the process before the node exists to send its zero.
        wait_for(lambda: f"gamepad {missing}, mapping" in node.output(), "the gamepad node up")
        assert node.proc.poll() is None and probe.messages("teleop/gamepad/cmd_vel") == []
        # Matched on the gamepad's side, not only the probe's: each side matches on its own, and
        # a zero sent before the gamepad's writer has matched the probe's reader is not delivered.
        wait_for(lambda: "teleop/gamepad/cmd_vel: 1 subscriber(s) matched" in node.output(),
                 "the gamepad's publisher matched to the probe")
    finally:
        node.kill(signal.SIGINT)
    assert node.proc.returncode == 0, node.output()
    wait_for(lambda: 0.0 in [m.linear.x for m in probe.messages("teleop/gamepad/cmd_vel")],
             "zero on exit", timeout_s=30)
    assert {m.linear.x for m in probe.messages("teleop/gamepad/cmd_vel")} == {0.0}  # never a motion
