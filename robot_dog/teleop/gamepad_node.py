"""gamepad_node: a Linux evdev gamepad -> `teleop/gamepad/cmd_vel` through the mapping of gamepad.py.

The device is read by a thread (python-evdev); a missing or unplugged device is logged and
retried every 2 s, and counts as a release (zero once). The timer ticks the core at 100 Hz; the
core publishes at the mapping's rate (20 Hz) while the enable button is held.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from geometry_msgs.msg import Twist
from rclpy.duration import Duration
from rclpy.event_handler import PublisherEventCallbacks, QoSPublisherMatchedInfo
from rclpy.node import Node

from robot_dog.ros import qos
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from robot_dog.teleop.gamepad import GamepadCore, GamepadMapping, describe, disconnected

DEFAULT_MAPPING = Path(__file__).with_name("gamepad_default.yaml")


class GamepadNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "gamepad")
        super().__init__(**kwargs)
        self._device = declare_read_only(self, "device", "/dev/input/event0", "evdev device path")
        mapping_file = declare_read_only(self, "mapping_file", str(DEFAULT_MAPPING),
                                         "axis/button mapping (YAML, as teleop_twist_joy's)")
        self._core = GamepadCore(GamepadMapping.from_file(mapping_file))
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._pub = self.create_publisher(
            Twist, "teleop/gamepad/cmd_vel", qos.COMMAND,
            event_callbacks=PublisherEventCallbacks(matched=self._on_matched))
        self.create_timer(0.01, self._tick)
        threading.Thread(target=self._read, name="gamepad", daemon=True).start()
        self.get_logger().info(f"gamepad {self._device}, mapping {describe(self._core.mapping)}")

    def _read(self) -> None:
        import evdev  # imported here: the rest of the stack runs without it
        while not self._closing.is_set():
            try:
                device = evdev.InputDevice(self._device)
                self.get_logger().info(f"gamepad connected: {device.name}")
                for event in device.read_loop():
                    with self._lock:
                        self._core.feed(event.type, event.code, event.value, time.monotonic())
                    if self._closing.is_set():
                        return
            except OSError as exc:
                self.get_logger().error(f"gamepad {self._device}: {exc}; retrying in 2 s",
                                        throttle_duration_sec=30.0)
                with self._lock:
                    disconnected(self._core)
            self._closing.wait(2.0)

    def _on_matched(self, info: QoSPublisherMatchedInfo) -> None:
        # Matching is seen from each side on its own: a subscriber that has matched us may not be
        # matched here yet, and only a match on this side receives what we publish.
        count = info.current_count
        log = self.get_logger().info if count else self.get_logger().warning
        log(f"teleop/gamepad/cmd_vel: {count} subscriber(s) matched" + ("" if count else
            ": nobody hears the gamepad, the dog will not move"))

    def _tick(self) -> None:
        with self._lock:
            out = self._core.tick(time.monotonic())
        if out is not None:
            msg = Twist()
            msg.linear.x, msg.linear.y, msg.angular.z = out
            self._pub.publish(msg)

    def close(self) -> None:
        self._closing.set()
        self._pub.publish(Twist())   # zero on exit, as teleop_twist_joy
        # Linger until the subscribers acked it (1 s at most): over shared memory the sample lives
        # in this process's segment, which the teardown right after frees before a busy reader
        # has taken it (measured under load: lost in 3 of 6 exits without this wait, 0 of 12
        # with it). Fast DDS often acks only at its next heartbeat, so this usually takes 1 s.
        self._pub.wait_for_all_acked(Duration(seconds=1.0))


def main() -> int:
    return run_node(GamepadNode, publish_on_exit=True)


if __name__ == "__main__":
    raise SystemExit(main())
