"""The robot description derived from the MuJoCo model: a URDF a parser accepts, one tree
rooted at base_link with every frame of robot_dog.ros.frames, and transforms that agree with
MuJoCo's own kinematics (legs at any angles, the bodycam's optical frame)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from robot_dog.ros import frames
from sim import robot as R
from sim.description import (describe, moving_transforms, quat_multiply, static_transforms,
                             to_urdf)
from sim.model import robot_spec


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return robot_spec().compile()


def test_urdf_is_one_tree_from_base_link_with_every_named_frame(model):
    root = ET.fromstring(to_urdf(describe(model)))
    links = {link.get("name") for link in root.iter("link")}
    parent_of = {j.find("child").get("link"): j.find("parent").get("link") for j in root.iter("joint")}
    assert set(parent_of) == links - {frames.BASE_LINK}           # one parent each, base_link the root
    for link in links:
        hops = 0
        while link != frames.BASE_LINK:
            link, hops = parent_of[link], hops + 1
            assert hops < 10
    named = {frames.IMU_LINK, frames.GPS_LINK, frames.LASER_LINK, *frames.PAYLOAD,
             *(frames.foot(leg) for leg in R.LEGS_MODEL)}
    assert named <= links
    revolute = [j for j in root.iter("joint") if j.get("type") == "revolute"]
    assert sorted(j.get("name") for j in revolute) == sorted(R.JOINTS_MODEL)
    for j in revolute:
        limit = j.find("limit")
        assert float(limit.get("lower")) < float(limit.get("upper"))
        assert float(limit.get("effort")) > 0


def _relative(data: mujoco.MjData, parent: int, child: int) -> tuple[np.ndarray, np.ndarray]:
    inverse = np.zeros(4)
    mujoco.mju_negQuat(inverse, data.xquat[parent])
    quat, pos = np.zeros(4), np.zeros(3)
    mujoco.mju_mulQuat(quat, inverse, data.xquat[child])
    mujoco.mju_rotVecQuat(pos, data.xpos[child] - data.xpos[parent], inverse)
    return pos, quat


def _same_rotation(a, b) -> bool:
    return abs(abs(float(np.dot(a, b))) - 1.0) < 1e-9


def test_leg_transforms_match_mujoco_kinematics_at_any_angles(model):
    desc = describe(model)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(3)
    body = lambda link: model.body(R.TRUNK if link == frames.BASE_LINK else link).id
    for _ in range(5):
        angles = {}
        for name in R.JOINTS_MODEL:
            j = model.joint(name)
            angles[name] = float(rng.uniform(*j.range))
            data.qpos[j.qposadr[0]] = angles[name]
        mujoco.mj_kinematics(model, data)
        for t in moving_transforms(desc, angles):
            pos, quat = _relative(data, body(t.parent), body(t.child))
            assert np.allclose(pos, t.xyz, atol=1e-9)
            assert _same_rotation(quat, t.quat), (t.child, quat, t.quat)


def test_optical_frame_looks_where_the_rendered_camera_looks(model):
    """MuJoCo's camera looks along its -z with y up; the optical frame looks along +z, y down."""
    statics = {t.child: t for t in static_transforms(describe(model))}
    link, optical = statics[frames.BODYCAM_LINK], statics[frames.BODYCAM_OPTICAL]
    assert link.parent == frames.BODYCAM_MOUNT
    camera = model.camera(R.BODYCAM)
    flipped = quat_multiply(tuple(camera.quat), (0.0, 1.0, 0.0, 0.0))   # 180 deg about x
    assert _same_rotation(quat_multiply(link.quat, optical.quat), flipped)
    assert np.allclose(link.xyz, camera.pos)


def test_frame_prefix_names_every_frame_of_a_message():
    from geometry_msgs.msg import TransformStamped
    from nav_msgs.msg import Odometry
    from tf2_msgs.msg import TFMessage

    from sim.messages import with_frame_prefix
    tf = TFMessage(transforms=[TransformStamped(child_frame_id="base_link")])
    tf.transforms[0].header.frame_id = "odom"
    with_frame_prefix(tf, "dog2/")
    assert (tf.transforms[0].header.frame_id, tf.transforms[0].child_frame_id) == ("dog2/odom", "dog2/base_link")
    odom = Odometry(child_frame_id="base_link")
    odom.header.frame_id = "odom"
    with_frame_prefix(odom, "dog2/")
    assert (odom.header.frame_id, odom.child_frame_id) == ("dog2/odom", "dog2/base_link")
    assert with_frame_prefix(odom, "") is odom and odom.header.frame_id == "dog2/odom"
