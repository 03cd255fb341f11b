"""`robot-dog record`'s file: messages serialized by rclpy (as they come off DDS) written with
their ros2msg definitions decode again with mcap-ros2-support (an outside reader), standard
and custom types alike; the size cap closes the file and refuses further messages."""
from __future__ import annotations

from pathlib import Path

from geometry_msgs.msg import TransformStamped
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message
from robot_dog_interfaces.msg import EstopState
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage

from robot_dog.devtools.mcap_file import McapFile
from robot_dog.devtools.schemas import full_definition
from robot_dog.devtools.selection import Selection


def decoded(path: Path) -> list:
    """(topic, message) of every message, decoded by mcap-ros2-support from the file's schemas."""
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        return [(channel.topic, msg) for _, channel, _, msg in reader.iter_decoded_messages()]


def sample() -> dict[str, tuple[str, object]]:
    tf = TFMessage(transforms=[TransformStamped(child_frame_id="base_link")])
    tf.transforms[0].header.frame_id = "odom"
    tf.transforms[0].transform.translation.x = 1.5
    odom = Odometry(child_frame_id="base_link")
    odom.pose.covariance[0] = 0.25
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob", d=[0.0] * 5)
    return {"/tf": ("tf2_msgs/msg/TFMessage", tf), "/dog1/odom": ("nav_msgs/msg/Odometry", odom),
            "/dog1/camera/camera_info": ("sensor_msgs/msg/CameraInfo", info),
            "/dog1/estop": ("robot_dog_interfaces/msg/EstopState", EstopState(engaged=True))}


def test_every_message_decodes_with_mcap_ros2(tmp_path: Path):
    path = tmp_path / "run.mcap"
    sink = McapFile(path)
    for topic, (kind, msg) in sample().items():
        sink.add_channel(topic, kind, full_definition(kind))
        for i in range(3):
            assert sink.write(topic, serialize_message(msg), 1_000 + i)
    sink.close()
    messages = decoded(path)
    assert len(messages) == 12
    by_topic = dict(messages)
    assert by_topic["/tf"].transforms[0].transform.translation.x == 1.5
    assert by_topic["/tf"].transforms[0].header.frame_id == "odom"
    assert by_topic["/dog1/odom"].pose.covariance[0] == 0.25
    assert by_topic["/dog1/camera/camera_info"].width == 640
    assert by_topic["/dog1/estop"].engaged is True


def test_size_cap_closes_the_file(tmp_path: Path):
    path = tmp_path / "capped.mcap"
    sink = McapFile(path, max_bytes=2_000)
    kind = "nav_msgs/msg/Odometry"
    sink.add_channel("/odom", kind, full_definition(kind))
    data = serialize_message(Odometry())
    written = 0
    while sink.write("/odom", data, written):
        written += 1
    assert 0 < written * len(data) <= 2_000 < (written + 1) * len(data)
    assert not sink.write("/odom", data, 0)
    assert len(decoded(path)) == written


def test_selection_patterns():
    picked = Selection(("/dog1/*", "/tf*"), ("/dog1/camera/*",))
    assert "/tf_static" in picked and "/dog1/odom" in picked
    assert "/dog1/camera/image_raw" not in picked and "/rosout" not in picked
    assert "/anything" in Selection()
