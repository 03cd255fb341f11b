"""The simulator's readings as standard ROS messages (no rclpy: message types only): odometry,
IMU, fix, joint states, the TF tree and the laser scan, each stamped by the caller and named
by robot_dog.ros.frames. Covariances come from the noise model (sim.noise).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import Imu, JointState, LaserScan, NavSatFix, NavSatStatus
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from robot_dog.ros import frames
from sim import robot as R
from sim.core import BaseState
from sim.description import Transform
from sim.laser import LaserConfig
from sim.noise import NoiseModel, Reading, fix_covariance, imu_covariances, odometry_covariances


def with_frame_prefix(msg: object, prefix: str) -> object:
    """`msg` with `prefix` before every frame it names (header, child frame, each transform), as
    robot_state_publisher's frame_prefix does: several dogs on one /tf (`dog1/base_link`, ...).
    An empty prefix leaves it untouched."""
    if not prefix:
        return msg
    for part in getattr(msg, "transforms", None) or (msg,):
        header = getattr(part, "header", None)
        if header is not None and header.frame_id:
            header.frame_id = prefix + header.frame_id
        if getattr(part, "child_frame_id", ""):
            part.child_frame_id = prefix + part.child_frame_id
    return msg


def stamp_of(seconds: float) -> Time:
    """A time in seconds as builtin_interfaces/Time (sim time on /clock and in the stamps)."""
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def odometry(r: Reading, noise: NoiseModel, stamp: Time) -> Odometry:
    odom = Odometry(header=Header(stamp=stamp, frame_id=frames.ODOM), child_frame_id=frames.BASE_LINK)
    pose, twist = odom.pose.pose, odom.twist.twist
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in r.position)
    o = pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in r.orientation)
    twist.linear.x, twist.linear.y, twist.linear.z = (float(v) for v in r.linear_velocity)
    twist.angular.x, twist.angular.y, twist.angular.z = (float(v) for v in r.angular_velocity)
    odom.pose.covariance, odom.twist.covariance = odometry_covariances(noise, r.travelled)
    return odom


def imu(s: BaseState, r: Reading, noise: NoiseModel, stamp: Time) -> Imu:
    msg = Imu(header=Header(stamp=stamp, frame_id=frames.IMU_LINK))
    o, g, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    o.w, o.x, o.y, o.z = (float(v) for v in s.orientation)   # the attitude filter: tilt is honest
    g.x, g.y, g.z = (float(v) for v in r.gyro)
    a.x, a.y, a.z = (float(v) for v in r.specific_force)
    (msg.orientation_covariance, msg.angular_velocity_covariance,
     msg.linear_acceleration_covariance) = imu_covariances(noise)
    return msg


def joint_state(s: BaseState, stamp: Time) -> JointState:
    return JointState(header=Header(stamp=stamp), name=list(R.JOINTS_MODEL),
                      position=s.joint_position.tolist(), velocity=s.joint_velocity.tolist(),
                      effort=s.joint_effort.tolist())


def fix(latitude: float, longitude: float, altitude: float, noise: NoiseModel, stamp: Time) -> NavSatFix:
    msg = NavSatFix(header=Header(stamp=stamp, frame_id=frames.GPS_LINK), latitude=latitude,
                    longitude=longitude, altitude=altitude,
                    position_covariance=fix_covariance(noise),
                    position_covariance_type=NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN)
    msg.status.status, msg.status.service = NavSatStatus.STATUS_FIX, NavSatStatus.SERVICE_GPS
    return msg


def transforms(items: Iterable[Transform], stamp: Time) -> TFMessage:
    out = []
    for t in items:
        msg = TransformStamped(header=Header(stamp=stamp, frame_id=t.parent), child_frame_id=t.child)
        tr, q = msg.transform.translation, msg.transform.rotation
        tr.x, tr.y, tr.z = t.xyz
        q.w, q.x, q.y, q.z = t.quat
        out.append(msg)
    return TFMessage(transforms=out)


def base_transform(r: Reading) -> Transform:
    """odom -> base_link: where the odometry says the dog is (drifting when realistic)."""
    x, y, z = (float(v) for v in r.position)
    w, qx, qy, qz = (float(v) for v in r.orientation)
    return Transform(frames.ODOM, frames.BASE_LINK, (x, y, z), (w, qx, qy, qz))


def laser_scan(ranges: np.ndarray, config: LaserConfig, stamp: Time) -> LaserScan:
    return LaserScan(header=Header(stamp=stamp, frame_id=frames.LASER_LINK),
                     angle_min=config.angle_min, angle_max=config.angle_max,
                     angle_increment=config.angle_increment, time_increment=0.0,
                     scan_time=1.0 / config.rate_hz, range_min=config.range_min,
                     range_max=config.range_max, ranges=ranges.tolist())
