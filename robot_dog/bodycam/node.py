"""Bodycam node: publishes `bodycam/image_raw` and `bodycam/image/compressed` (sensor QoS), and
hosts the law-enforcement recorder (recorder_node.py: `bodycam/record`, `bodycam/snapshot`,
`bodycam/status`), which takes every frame at full quality with the overlay burned in.

The picture comes from the `source` parameter (robot_dog/bodycam/sources.py): `test_scene`
(synthetic), a V4L2 device or video file (OpenCV), or `topic:NAME` (a ROS image topic, e.g. the
simulator's `topic:camera/image_raw`). The burned-in position follows `fix` (NavSatFix) when one
arrives; without a fix it shows the configured default. The burned-in officer is the one
paired with the handheld (`teleop/officer`, latched, from teleop_node), or the `officer_id`
parameter while none is; the recorder names the same officer in the recordings it starts.
With a topic source it also publishes
`bodycam/camera_info` beside every image (same header): the source's `camera_info` (the topic's
sibling) scaled to the bodycam's size; other sources have no known intrinsics and publish none.
"""
from __future__ import annotations

import dataclasses
import math
import time
from functools import partial
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, NavSatFix, NavSatStatus
from std_msgs.msg import Header, String

from robot_dog.ros import camera_info, frames, qos
from robot_dog.bodycam.recorder_node import RecorderShell
from robot_dog.bodycam.scene import Overlay, burn_in, encode_jpeg
from robot_dog.bodycam.sources import (TOPIC_PREFIX, SourceError, TopicSource, image_from_msg,
                                       no_signal, open_source)
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node


class BodycamNode(Node):
    # Its images need the 8 MB shared-memory segment (robot_dog/ros/dds_env.py).
    PUBLISHES_IMAGES = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "bodycam"), **kwargs)
        p = partial(declare_read_only, self)
        self.width = p("width", 640, "image width, px")
        self.height = p("height", 480, "image height, px")
        self.fps = p("fps", 15.0, "frame rate, Hz")
        self.jpeg_quality = p("jpeg_quality", 80, "JPEG quality of image/compressed, 1..100")
        self.publish_raw = p("publish_raw", True, "also publish uncompressed image_raw")
        self.overlay = Overlay(device_id=p("device_id", "DOG-0001", "recorder device ID"),
                               officer_id=p("officer_id", "000000", "officer shown while no "
                                            "handheld is paired (then: teleop/officer)"))
        self.no_officer = self.overlay.officer_id
        self.frame_id = p("frame_id", frames.BODYCAM_OPTICAL, "TF frame of the camera")
        spec = p("source", "test_scene", "test_scene | V4L2 device or video file | topic:NAME")
        try:
            self.source = open_source(spec, self.width, self.height)
        except SourceError as exc:
            self.get_logger().error(f"{exc}; showing NO SIGNAL")
            self.source = TopicSource(self.width, self.height)   # never fed: NO SIGNAL frames
        if spec.startswith(TOPIC_PREFIX):
            topic = spec[len(TOPIC_PREFIX):]
            self.create_subscription(Image, topic, self._on_image, qos.SENSOR)
            folder = topic.rpartition("/")[0]   # camera/image_raw -> camera/camera_info
            self.create_subscription(CameraInfo, f"{folder}/camera_info" if folder else "camera_info",
                                     self._on_camera_info, qos.SENSOR)
        self.camera: camera_info.Pinhole | None = None   # the source's intrinsics, at our size
        self.create_subscription(NavSatFix, "fix", self._on_fix, qos.TELEMETRY)
        self.create_subscription(String, "teleop/officer", self._on_officer, qos.LATCHED)
        self.raw_pub = self.create_publisher(Image, "bodycam/image_raw", qos.SENSOR)
        self.jpeg_pub = self.create_publisher(CompressedImage, "bodycam/image/compressed", qos.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, "bodycam/camera_info", qos.SENSOR)
        self.recorder = RecorderShell(self, width=self.width, height=self.height, fps=self.fps,
                                      device_id=self.overlay.device_id, officer_id=self.overlay.officer_id)
        self.create_timer(1.0 / self.fps, self._tick)
        self.get_logger().info(f"bodycam {self.width}x{self.height} @ {self.fps} Hz ({spec})")

    def _on_image(self, msg: Image) -> None:
        try:
            self.source.put(image_from_msg(msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data)))
        except ValueError as exc:
            self.get_logger().warning(f"camera image dropped: {exc}", throttle_duration_sec=5.0)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        source = camera_info.from_msg(msg)
        self.camera = source.scaled(self.width, self.height) if source is not None else None

    def _on_officer(self, msg: String) -> None:
        officer = msg.data or self.no_officer
        if officer != self.overlay.officer_id:
            self.get_logger().info(f"officer on duty: {officer}")
            self.overlay = dataclasses.replace(self.overlay, officer_id=officer)
            self.recorder.set_officer(officer)

    def _on_fix(self, msg: NavSatFix) -> None:
        if msg.status.status >= NavSatStatus.STATUS_FIX and math.isfinite(msg.latitude) \
                and math.isfinite(msg.longitude):
            self.overlay = dataclasses.replace(self.overlay, latitude=msg.latitude, longitude=msg.longitude)

    def _tick(self) -> None:
        now = time.time()
        frame = self.source.frame(now)
        frame = no_signal(self.width, self.height) if frame is None else frame
        burn_in(frame, self.overlay, now)
        self.recorder.put_frame(frame, now)     # queued for the recorder's thread; never waits
        stamp = self.get_clock().now().to_msg()
        if self.publish_raw and self.raw_pub.get_subscription_count() > 0:
            self.raw_pub.publish(to_image_msg(frame, stamp, self.frame_id))
        if self.jpeg_pub.get_subscription_count() > 0:   # the uplink's live stream, a viewer
            msg = CompressedImage(format="jpeg", data=encode_jpeg(frame, self.jpeg_quality))
            msg.header.stamp, msg.header.frame_id = stamp, self.frame_id
            self.jpeg_pub.publish(msg)
        if self.camera is not None:
            self.info_pub.publish(camera_info.to_msg(self.camera, Header(stamp=stamp, frame_id=self.frame_id)))

    def close(self) -> None:
        self.recorder.close()
        self.source.close()


def to_image_msg(frame: np.ndarray, stamp: Any, frame_id: str) -> Image:
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding="bgr8",
                is_bigendian=0, step=frame.shape[1] * 3)
    msg.data = frame.tobytes()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def main(args: list[str] | None = None) -> int:
    return run_node(BodycamNode, args)
