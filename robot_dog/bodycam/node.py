"""Bodycam node: publishes `bodycam/image_raw` and `bodycam/image/compressed` (sensor QoS).

The source is a backend: `test_scene` (synthetic, burned-in clock) now; a V4L2 camera and the
simulator's rendered camera plug in behind the same `render(stamp)` call.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from robot_dog import qos
from robot_dog.bodycam.scene import Overlay, TestScene, encode_jpeg
from robot_dog.params import declare_read_only
from robot_dog.ros_main import run_node


class BodycamNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "bodycam"), **kwargs)
        p = partial(declare_read_only, self)
        self.width = p("width", 640, "image width, px")
        self.height = p("height", 480, "image height, px")
        self.fps = p("fps", 15.0, "frame rate, Hz")
        self.jpeg_quality = p("jpeg_quality", 80, "JPEG quality of image/compressed, 1..100")
        self.publish_raw = p("publish_raw", True, "also publish uncompressed image_raw")
        self.overlay = Overlay(device_id=p("device_id", "DOG-0001", "recorder device ID"),
                               officer_id=p("officer_id", "000000", "officer on duty"))
        self.frame_id = p("frame_id", "bodycam_optical", "TF frame of the camera")
        self.scene = TestScene(self.width, self.height)
        self.raw_pub = self.create_publisher(Image, "bodycam/image_raw", qos.SENSOR)
        self.jpeg_pub = self.create_publisher(CompressedImage, "bodycam/image/compressed", qos.SENSOR)
        self.create_timer(1.0 / self.fps, self._tick)
        self.get_logger().info(f"bodycam {self.width}x{self.height} @ {self.fps} Hz (test scene)")

    def _tick(self) -> None:
        now = time.time()
        frame = self.scene.render(now, self.overlay)
        stamp = self.get_clock().now().to_msg()
        if self.publish_raw and self.raw_pub.get_subscription_count() > 0:
            self.raw_pub.publish(to_image_msg(frame, stamp, self.frame_id))
        msg = CompressedImage(format="jpeg", data=encode_jpeg(frame, self.jpeg_quality))
        msg.header.stamp, msg.header.frame_id = stamp, self.frame_id
        self.jpeg_pub.publish(msg)


def to_image_msg(frame: np.ndarray, stamp: Any, frame_id: str) -> Image:
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding="bgr8",
                is_bigendian=0, step=frame.shape[1] * 3)
    msg.data = frame.tobytes()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def main(args: list[str] | None = None) -> int:
    return run_node(BodycamNode, args)
