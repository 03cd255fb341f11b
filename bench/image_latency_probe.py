"""Child process of bench_image_latency: publishes or receives 640x480 sensor_msgs/Image.

Does not import robot_dog on purpose: the parent chooses the DDS environment (project profile
or Fast DDS defaults with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST).
Latency = receive wall time - header stamp (same machine, same clock).
"""
from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

QOS = {"sensor": qos_profile_sensor_data,
       "reliable": QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)}
from sensor_msgs.msg import Image

WIDTH, HEIGHT = 640, 480


def publish(topic: str, qos: QoSProfile, count: int, rate_hz: float) -> None:
    node = rclpy.create_node("image_latency_pub")
    pub = node.create_publisher(Image, topic, qos)
    msg = Image(width=WIDTH, height=HEIGHT, encoding="bgr8", step=WIDTH * 3)
    msg.data = bytes(WIDTH * HEIGHT * 3)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # let the reader finish matching before the first sample
    for _ in range(count):
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        pub.publish(msg)
        time.sleep(1.0 / rate_hz)


def subscribe(topic: str, qos: QoSProfile, count: int, timeout_s: float) -> None:
    node = rclpy.create_node("image_latency_sub")
    latencies: list[float] = []

    def on_image(msg: Image) -> None:
        sent = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        latencies.append((time.time_ns() - sent) / 1e6)

    node.create_subscription(Image, topic, on_image, qos)
    deadline = time.monotonic() + timeout_s
    while len(latencies) < count and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps(latencies))


if __name__ == "__main__":
    # topic: one per measurement (the parent makes it unique), so runs beside it do not mix in.
    role, topic, qos, count, arg = (sys.argv[1], sys.argv[2], QOS[sys.argv[3]], int(sys.argv[4]),
                                    float(sys.argv[5]))
    rclpy.init()
    if role == "pub":
        publish(topic, qos, count, rate_hz=arg)
    else:
        subscribe(topic, qos, count, timeout_s=arg)
    rclpy.try_shutdown()
