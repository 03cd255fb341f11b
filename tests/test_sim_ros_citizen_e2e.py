"""The simulator as a ROS developer meets it, checked with plain rclpy subscribers (QoS and
message types of their own, nothing from the stack): a TF tree where every frame is reachable
from odom and the static frames are latched, a robot description naming the same frames,
camera_info beside every image (same stamp, the image's size), non-zero covariances, a laser
scan, one /diagnostics with a hardware_id, and, with /clock published, every stamp in sim time.
Then the developer tools against the same run: `robot-dog record` writes an MCAP file that
mcap-ros2-support decodes whole, and a Foxglove client of `robot-dog foxglove` receives /tf.

One simulator (kinematic, a small camera) serves the module: CPU is shared.
"""
from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from functools import partial

import pytest
import rclpy
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, LaserScan
from std_msgs.msg import String
from tf2_msgs.msg import TFMessage

from robot_dog.ros import dds_env
from tests import support
from tests.fixtures.ros_nodes import NodeProcess

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)


class Listener:
    """A plain rclpy node in its own context, spun by a thread, keeping what arrives by topic."""

    def __init__(self, namespace: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f"outsider_{uuid.uuid4().hex[:6]}", namespace=namespace,
                                      context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.got: dict[str, list] = defaultdict(list)
        self.lock = threading.Lock()
        threading.Thread(target=self._spin, daemon=True).start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 (context shut down at teardown)
            pass

    def listen(self, kind: type, topic: str, qos: QoSProfile) -> None:
        def keep(msg: object) -> None:
            with self.lock:
                self.got[topic].append(msg)
        self.node.create_subscription(kind, topic, keep, qos)

    def of(self, topic: str) -> list:
        with self.lock:
            return list(self.got[topic])

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    process = NodeProcess("sim.node", namespace, log, mode="kinematic", scenario="obstacles",
                          render=True, width=160, height=120, camera_fps=5.0,
                          street_audio=False, publish_clock=True)
    try:
        yield namespace, process
    finally:
        process.kill()
    assert "Traceback" not in process.output(), process.output()


@pytest.fixture(scope="module")
def heard(sim):
    namespace, _ = sim
    listener = Listener(namespace)
    for kind, topic, qos in ((TFMessage, "/tf", RELIABLE), (Odometry, "odom", RELIABLE),
                             (Imu, "imu/data", BEST_EFFORT), (Image, "camera/image_raw", BEST_EFFORT),
                             (CameraInfo, "camera/camera_info", BEST_EFFORT),
                             (LaserScan, "scan", BEST_EFFORT), (Clock, "/clock", RELIABLE),
                             (DiagnosticArray, "/diagnostics", RELIABLE)):
        listener.listen(kind, topic, qos)
    try:
        wait_for(lambda: all(len(listener.of(t)) >= 3 for t in
                             ("/tf", "odom", "camera/image_raw", "camera/camera_info", "scan"))
                 and listener.of("/diagnostics"), "the simulator's topics")
        yield listener
    finally:
        listener.close()


def late_latched(namespace: str, kind: type, topic: str) -> object:
    """What a subscriber that starts now gets on a latched topic (nothing is republished)."""
    late = Listener(namespace)
    try:
        late.listen(kind, topic, LATCHED)
        wait_for(lambda: late.of(topic), f"latched {topic}")
        return late.of(topic)[0]
    finally:
        late.close()


def test_every_frame_is_reachable_from_odom_and_static_frames_are_latched(sim, heard):
    namespace, _ = sim
    static = late_latched(namespace, TFMessage, "/tf_static")
    parent_of = {t.child_frame_id: t.header.frame_id for t in static.transforms}
    for msg in heard.of("/tf")[-5:]:
        parent_of.update({t.child_frame_id: t.header.frame_id for t in msg.transforms})
    assert parent_of["base_link"] == "odom"
    for frame in parent_of:
        chain = [frame]
        while chain[-1] != "odom":
            assert chain[-1] in parent_of, f"{frame}: no way to odom from {chain}"
            chain.append(parent_of[chain[-1]])
            assert len(chain) < 12
    for frame in ("imu_link", "gps_link", "laser_link", "bodycam_optical", "light_bar",
                  "searchlight", "megaphone", "FL_foot"):
        assert frame in parent_of, frame
    # the frames the messages are stamped in all exist in the tree
    used = {heard.of("odom")[-1].header.frame_id, heard.of("imu/data")[-1].header.frame_id,
            heard.of("camera/image_raw")[-1].header.frame_id, heard.of("scan")[-1].header.frame_id}
    assert used <= set(parent_of) | {"odom"}

    urdf = ET.fromstring(late_latched(namespace, String, "robot_description").data)
    assert {link.get("name") for link in urdf.iter("link")} == set(parent_of)   # odom is no link


def test_camera_info_matches_each_image(heard):
    infos = {(i.header.stamp.sec, i.header.stamp.nanosec): i for i in heard.of("camera/camera_info")}
    images = heard.of("camera/image_raw")
    matched = [(img, infos[(img.header.stamp.sec, img.header.stamp.nanosec)]) for img in images
               if (img.header.stamp.sec, img.header.stamp.nanosec) in infos]
    assert matched, "no camera_info with an image's stamp"
    for image, info in matched:
        assert (info.width, info.height) == (image.width, image.height) == (160, 120)
        assert info.header.frame_id == image.header.frame_id == "bodycam_optical"
        fx, cx, fy, cy = info.k[0], info.k[2], info.k[4], info.k[5]
        assert fx > 0 and fy > 0 and 0 < cx < info.width and 0 < cy < info.height
        assert list(info.p[:3]) == [fx, 0.0, cx]


def test_bodycam_camera_info_is_the_simulators_scaled_to_its_size_in_sim_time(sim, heard, tmp_path):
    namespace, _ = sim
    bodycam = NodeProcess("robot_dog.bodycam.node:main", namespace, tmp_path / "bodycam.log",
                          source="topic:camera/image_raw", width=320, height=240, fps=5.0,
                          publish_raw=False, use_sim_time=True)
    try:
        heard.listen(CameraInfo, "bodycam/camera_info", BEST_EFFORT)
        wait_for(lambda: heard.of("bodycam/camera_info"), "bodycam/camera_info")
    finally:
        bodycam.kill()
    source, info = heard.of("camera/camera_info")[-1], heard.of("bodycam/camera_info")[-1]
    assert (info.width, info.height) == (320, 240) and info.header.frame_id == "bodycam_optical"
    assert info.k[0] == pytest.approx(2 * source.k[0]) and info.k[4] == pytest.approx(2 * source.k[4])
    assert info.k[2] == pytest.approx((source.k[2] + 0.5) * 2 - 0.5)
    assert info.header.stamp.sec < time.time() - 1e6      # on the simulator's clock (use_sim_time)


def test_covariances_are_not_zero(heard):
    odom, imu = heard.of("odom")[-1], heard.of("imu/data")[-1]
    for matrix, n in ((odom.pose.covariance, 6), (odom.twist.covariance, 6),
                      (imu.orientation_covariance, 3), (imu.angular_velocity_covariance, 3),
                      (imu.linear_acceleration_covariance, 3)):
        assert all(matrix[i * n + i] > 0 for i in range(n)), list(matrix)


def test_stamps_are_sim_time_and_diagnostics_name_the_hardware(heard):
    wall = time.time()
    clock = heard.of("/clock")[-1].clock.sec + heard.of("/clock")[-1].clock.nanosec * 1e-9
    assert clock < wall - 1e6                      # sim time starts at 0, not at the epoch
    for topic in ("/tf", "odom", "imu/data", "camera/image_raw", "camera/camera_info", "scan",
                  "/diagnostics"):
        msg = heard.of(topic)[-1]
        header = msg.transforms[0].header if topic == "/tf" else msg.header
        stamp = header.stamp.sec + header.stamp.nanosec * 1e-9
        assert stamp <= clock + 5.0 and stamp < wall - 1e6, (topic, stamp, clock)
    sim_status = [s for a in heard.of("/diagnostics") for s in a.status if "simulator" in s.name]
    assert sim_status and all(s.hardware_id for s in sim_status)


def test_laser_scan_sees_the_obstacles(heard):
    scan = heard.of("scan")[-1]
    finite = [r for r in scan.ranges if scan.range_min <= r <= scan.range_max]
    assert scan.header.frame_id == "laser_link" and len(scan.ranges) == 360
    assert finite and min(finite) < 3.0            # the crate ahead


def test_record_writes_an_mcap_that_decodes_whole(sim, heard, tmp_path):
    namespace, _ = sim
    path = tmp_path / "run.mcap"
    done = subprocess.run(
        [sys.executable, "-m", "robot_dog.cli", "record", "-o", str(path), "--duration", "6",
         "--topics", f"{namespace}/*", "/tf", "/tf_static", "--exclude", "*/image_raw"],
        env=dds_env.environ(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    topics = defaultdict(int)
    with open(path, "rb") as stream:   # decodes every message: raises on anything it cannot
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, _, _ in reader.iter_decoded_messages():
            topics[channel.topic] += 1
    for topic in ("/tf", "/tf_static", f"{namespace}/odom", f"{namespace}/camera/camera_info",
                  f"{namespace}/robot_description", f"{namespace}/scan"):
        assert topics[topic] > 0, dict(topics)
    assert not any(t.endswith("image_raw") for t in topics)


def test_a_foxglove_client_receives_tf_and_the_latched_static_tree(sim, heard, tmp_path):
    """The client connects after the server took /tf_static (published once, latched): it still
    gets it on subscribing, as a late ROS subscriber would."""
    import websockets
    from rclpy.serialization import deserialize_message

    server = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "foxglove", "--port", "0", "--topics", "/tf", "/tf_static"],
        env=dds_env.environ(), stdout=subprocess.PIPE, stderr=open(tmp_path / "foxglove.log", "w"), text=True)
    try:
        line = server.stdout.readline()                 # the one line it prints: where it serves
        assert line.startswith("foxglove: ws://127.0.0.1:"), line
        url = line.split()[-1]
        wait_for(lambda: "tapping /tf_static" in (tmp_path / "foxglove.log").read_text(),
                 "the server taking /tf_static")

        async def receive() -> dict[str, bytes]:
            got: dict[str, bytes] = {}
            async with websockets.connect(url, subprotocols=["foxglove.sdk.v1"]) as ws:
                topic_of: dict[int, str] = {}
                while len(got) < 2:
                    frame = await asyncio.wait_for(ws.recv(), 90)
                    if isinstance(frame, str):
                        msg = json.loads(frame)
                        if msg.get("op") == "advertise":
                            for c in msg["channels"]:
                                assert c["encoding"] == "cdr" and c["schemaName"] == "tf2_msgs/msg/TFMessage"
                                subscription = 100 + c["id"]
                                topic_of[subscription] = c["topic"]
                                await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                                    {"id": subscription, "channelId": c["id"]}]}))
                    elif frame[0] == 1:                 # message data: op, subscription, time, payload
                        (subscription,) = struct.unpack_from("<I", frame, 1)
                        got.setdefault(topic_of[subscription], frame[13:])
            return got

        try:
            got = asyncio.run(receive())
        except (TimeoutError, asyncio.TimeoutError):
            pytest.fail(f"no /tf and /tf_static from the Foxglove server within 90 s; its log:\n"
                        f"{(tmp_path / 'foxglove.log').read_text()}")
        tf = deserialize_message(got["/tf"], TFMessage)
        assert any(t.child_frame_id == "base_link" for t in tf.transforms)
        static = deserialize_message(got["/tf_static"], TFMessage)
        assert {"imu_link", "bodycam_optical"} <= {t.child_frame_id for t in static.transforms}
    finally:
        server.terminate()
        server.wait(timeout=30)
