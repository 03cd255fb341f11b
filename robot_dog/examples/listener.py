"""Listener: logs every std_msgs/String it hears on `chatter`."""
from __future__ import annotations

from typing import Any

from rclpy.node import Node
from std_msgs.msg import String

from robot_dog.ros.ros_main import run_node


class ListenerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "listener")
        super().__init__(**kwargs)
        self._subscription = self.create_subscription(String, "chatter", self._heard, 10)

    def _heard(self, msg: String) -> None:
        self.get_logger().info(f"I heard: [{msg.data}]")


def main() -> int:
    return run_node(ListenerNode)


if __name__ == "__main__":
    raise SystemExit(main())
