"""Talker: publishes std_msgs/String on `chatter` at `rate_hz`; can crash on purpose.

`crash_after_s` > 0 makes the process die with exit code 3 after that many seconds, like a driver
that segfaults: the launcher's respawn and required-node policies are tested against it.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from rclpy.node import Node
from rcl_interfaces.msg import ParameterDescriptor
from std_msgs.msg import String

from robot_dog.ros.ros_main import run_node

_LOGGER = logging.getLogger(__name__)

CRASH_EXIT_CODE = 3


class TalkerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "talker")
        super().__init__(**kwargs)
        rate_hz = self.declare_parameter(
            "rate_hz", 2.0, ParameterDescriptor(description="publish rate (Hz)")).value
        crash_after_s = self.declare_parameter(
            "crash_after_s", 0.0, ParameterDescriptor(description="exit(3) after this (s); 0: never")).value
        self._count = 0
        self._publisher = self.create_publisher(String, "chatter", 10)
        self._timer = self.create_timer(1.0 / rate_hz, self._publish)
        if crash_after_s > 0:
            self._crash_timer = self.create_timer(crash_after_s, self._crash)

    def _publish(self) -> None:
        self._count += 1
        msg = String(data=f"Hello World: {self._count}")
        self.get_logger().info(f"Publishing: '{msg.data}'")
        self._publisher.publish(msg)

    def _crash(self) -> None:
        self.get_logger().error(f"crashing on purpose (exit code {CRASH_EXIT_CODE})")
        # os._exit, not an exception: a crash skips cleanup, and executors swallow SystemExit.
        os._exit(CRASH_EXIT_CODE)


def main() -> int:
    return run_node(TalkerNode)


if __name__ == "__main__":
    raise SystemExit(main())
