"""echo_base_node: the base interface (see robot_dog/base/__init__.py) over the echo core, for
tests and runs without the simulator. Echoes each `cmd_vel` into `odom` at once and at 20 Hz."""
from __future__ import annotations

import math
import threading
import time
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from robot_dog_interfaces.msg import BaseState
from robot_dog_interfaces.srv import SetBaseMode
from std_msgs.msg import Header

from robot_dog.ros import qos
from robot_dog.base.echo import EchoBase
from robot_dog.errors import Refused, answer
from robot_dog.ros.params import declare_read_only
from robot_dog.ros import frames
from robot_dog.ros.ros_main import run_node


class EchoBaseNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "base")
        super().__init__(**kwargs)
        self._frame = declare_read_only(self, "odom_frame", frames.ODOM, "frame of the odometry")
        self._core = EchoBase(mode=declare_read_only(self, "initial_mode", "stand",
                                                     "posture at start: stand, sit or damp"))
        self._lock = threading.Lock()
        self._odom = self.create_publisher(Odometry, "odom", qos.TELEMETRY)
        self._state = self.create_publisher(BaseState, "base/state", qos.STATE)
        self.create_subscription(Twist, "cmd_vel", self._on_cmd, qos.COMMAND)
        self.create_service(SetBaseMode, "base/set_mode", self._on_mode)
        self.create_timer(0.05, self._publish_odom)
        self._publish_state()

    def _on_cmd(self, msg: Twist) -> None:
        with self._lock:
            was_moving = self._core.moving
            problem = self._core.command(msg.linear.x, msg.linear.y, msg.angular.z, time.monotonic())
            changed = was_moving != self._core.moving
        if problem:
            self.get_logger().warning(f"cmd_vel not followed: {problem}")
        self._publish_odom()
        if changed:
            self._publish_state()

    def _on_mode(self, request: SetBaseMode.Request,
                 response: SetBaseMode.Response) -> SetBaseMode.Response:
        try:
            with self._lock:
                self._core.set_mode(request.mode, time.monotonic())
            answer(response, message=f"now {request.mode}")
        except Refused as exc:
            answer(response, exc)
        self.get_logger().info(f"mode {request.mode}: {response.code} {response.message}")
        self._publish_state()
        return response

    def _publish_odom(self) -> None:
        with self._lock:
            c = self._core
            c.advance(time.monotonic())
            msg = Odometry(header=Header(stamp=self.get_clock().now().to_msg(), frame_id=self._frame),
                           child_frame_id=frames.BASE_LINK)
            msg.pose.pose.position.x, msg.pose.pose.position.y = c.x, c.y
            msg.pose.pose.orientation.z = math.sin(c.yaw / 2)
            msg.pose.pose.orientation.w = math.cos(c.yaw / 2)
            msg.twist.twist.linear.x, msg.twist.twist.linear.y = c.vx, c.vy
            msg.twist.twist.angular.z = c.wz
        self._odom.publish(msg)

    def _publish_state(self) -> None:
        with self._lock:
            mode, moving = self._core.mode, self._core.moving
        self._state.publish(BaseState(header=Header(stamp=self.get_clock().now().to_msg()),
                                      mode=mode, moving=moving))


def main() -> int:
    return run_node(EchoBaseNode)


if __name__ == "__main__":
    raise SystemExit(main())
