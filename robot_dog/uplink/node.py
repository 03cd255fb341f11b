"""Uplink node: ROS topics of one dog -> MQTT tree `patrol/v1/{dog}/...` (DESIGN.md section 4).

Status is retained with a Last Will ("offline"), telemetry is sampled at `telemetry_hz`, video
frames go out as JPEG per message, QoS 0, newest wins, with a 2 s message expiry so a late frame
is dropped by the broker instead of delivered stale.
"""
from __future__ import annotations

import json
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import BatteryState, CompressedImage

from robot_dog import qos
from robot_dog.ros_main import run_node
from robot_dog.uplink.telemetry import RateGate, TelemetryState

VIDEO_EXPIRY_S = 2


def topic(dog: str, *parts: str) -> str:
    return "/".join(("patrol", "v1", dog, *parts))


class UplinkNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "uplink"), **kwargs)
        p = self._declare
        self.dog = p("dog_id", "dog1", "dog ID in the MQTT tree")
        host = p("broker_host", "127.0.0.1", "MQTT broker host")
        port = p("broker_port", 1883, "MQTT broker port")
        telemetry_hz = p("telemetry_hz", 2.0, "telemetry rate, Hz (1-10)")
        self.video_gate = RateGate(p("video_max_hz", 15.0, "video frames per second at most"))
        self.telemetry = TelemetryState(self.dog)
        self.frames_sent = 0
        self.closing = False

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dog-{self.dog}",
                                  protocol=mqtt.MQTTv5)
        self.client.will_set(topic(self.dog, "status"), "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = lambda *_: self.get_logger().warning(
            f"cannot reach the broker at {host}:{port}; retrying", throttle_duration_sec=30.0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()
        self.get_logger().info(f"uplink for {self.dog} -> mqtt://{host}:{port}")

        self.create_subscription(CompressedImage, "bodycam/image/compressed", self._on_frame,
                                 qos.SENSOR)
        self.create_subscription(BatteryState, "battery", self._on_battery, qos.TELEMETRY)
        self.create_timer(1.0 / telemetry_hz, self._publish_telemetry)

    def _declare(self, name: str, default: Any, description: str) -> Any:
        return self.declare_parameter(
            name, default, ParameterDescriptor(description=description, read_only=True)).value

    # MQTT side
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.get_logger().error(f"broker refused the connection: {reason}")
            return
        client.publish(topic(self.dog, "status"), "online", qos=1, retain=True)
        self.get_logger().info("connected to broker; status online")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.closing:
            return  # our own disconnect at shutdown (the ROS context may already be gone)
        self.get_logger().warning(f"broker connection lost ({reason}); reconnecting")

    # ROS side
    def _on_frame(self, msg: CompressedImage) -> None:
        if not self.client.is_connected() or not self.video_gate.admit(time.monotonic()):
            return  # live-only: a frame that cannot go now is never worth sending later
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = VIDEO_EXPIRY_S
        self.client.publish(topic(self.dog, "video", "bodycam"), bytes(msg.data), qos=0,
                            properties=props)
        self.frames_sent += 1
        self.telemetry.update("video", {"frames_sent": self.frames_sent}, time.time())

    def _on_battery(self, msg: BatteryState) -> None:
        self.telemetry.update("battery", {"voltage_v": msg.voltage, "percentage": msg.percentage,
                                          "current_a": msg.current}, time.time())

    def _publish_telemetry(self) -> None:
        if self.client.is_connected():
            doc = self.telemetry.snapshot(time.time())
            self.client.publish(topic(self.dog, "telemetry"), json.dumps(doc), qos=1)

    def close(self) -> None:
        """Say goodbye cleanly: an orderly exit is 'offline' too, not only a dropped link."""
        self.closing = True
        if self.client.is_connected():
            self.client.publish(topic(self.dog, "status"), "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()


def main(args: list[str] | None = None) -> int:
    return run_node(UplinkNode, args)
