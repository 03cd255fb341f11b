"""bodycam_node in a real rclpy context: parameters shape the stream, image/compressed carries
JPEGs of the configured size with the camera frame id, image_raw is published only to a
subscriber, and parameters are read-only."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from robot_dog.ros import qos

pytestmark = pytest.mark.slow


@pytest.fixture
def ros(ros_namespace):
    from robot_dog.bodycam.node import BodycamNode
    context = rclpy.Context()
    rclpy.init(context=context)
    camera = BodycamNode(namespace=ros_namespace, context=context, parameter_overrides=[
        Parameter("width", value=320), Parameter("height", value=240), Parameter("fps", value=20.0),
        Parameter("jpeg_quality", value=70), Parameter("frame_id", value="cam_test")])
    viewer = rclpy.create_node("viewer", namespace=ros_namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(camera)
    executor.add_node(viewer)

    def spin_until(predicate, timeout_s=30.0):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.05)
        return predicate()
    try:
        yield camera, viewer, spin_until
    finally:
        executor.shutdown()
        camera.destroy_node()
        viewer.destroy_node()
        rclpy.shutdown(context=context)


def test_compressed_frames_follow_the_parameters(ros):
    camera, viewer, spin_until = ros
    jpegs: list[CompressedImage] = []
    viewer.create_subscription(CompressedImage, "bodycam/image/compressed", jpegs.append, qos.SENSOR)
    assert spin_until(lambda: len(jpegs) >= 3), "no compressed frames"
    msg = jpegs[-1]
    assert msg.format == "jpeg" and msg.header.frame_id == "cam_test"
    image = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in jpegs]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]


def test_raw_frames_only_to_a_subscriber(ros):
    camera, viewer, spin_until = ros
    assert camera.raw_pub.get_subscription_count() == 0  # nobody listens: nothing is converted
    raw: list[Image] = []
    viewer.create_subscription(Image, "bodycam/image_raw", raw.append, qos.SENSOR)
    assert spin_until(lambda: len(raw) >= 2), "no raw frames once subscribed"
    msg = raw[-1]
    assert (msg.width, msg.height, msg.encoding, msg.step) == (320, 240, "bgr8", 320 * 3)
    assert len(msg.data) == 320 * 240 * 3 and msg.header.frame_id == "cam_test"


def test_parameters_are_read_only(ros):
    camera, _viewer, _spin = ros
    result = camera.set_parameters([Parameter("fps", value=5.0)])[0]
    assert not result.successful
    assert camera.get_parameter("fps").value == 20.0
