"""The simulated sensors' noise model, no ROS: what the IMU and the leg odometry would report,
and the covariances a fusion filter (robot_localization) needs to weigh them.

The standard deviations are always reported as covariances: they are what the sensors are
specified to have. Whether the readings carry that noise is the scenario's `realistic` setting:
off (CI, the default), readings are the exact truth (within the stated covariance, trivially);
on, the IMU gets white noise and the odometry is dead-reckoned from a twist with a scale error,
white noise and a yaw-rate bias, so it drifts from the truth as a real base's does.
Seeded from the scenario: the same seed gives the same noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core import BaseState
from sim.model import CONTROL_DT


@dataclass(frozen=True)
class NoiseModel:
    gyro_sd: float = 0.004             # rad/s, per sample (MEMS gyro at 50 Hz)
    accel_sd: float = 0.04             # m/s^2, per sample
    orientation_sd: float = 0.01       # rad, roll/pitch/yaw of the IMU's attitude estimate
    speed_sd: float = 0.02             # m/s, per axis of the odometry twist
    yaw_rate_sd: float = 0.02          # rad/s, odometry yaw rate
    speed_scale_error: float = 0.03    # relative error of odometry speed (drift), realistic only
    yaw_rate_bias: float = 0.004       # rad/s, odometry yaw-rate bias (drift), realistic only
    position_sd: float = 0.05          # m, odometry pose per axis (at the start; grows with drift)
    heading_sd: float = 0.02           # rad, odometry yaw
    fix_horizontal_sd: float = 0.5     # m, GNSS
    fix_vertical_sd: float = 1.0       # m


def _diag(*values: float) -> list[float]:
    n = len(values)
    out = [0.0] * (n * n)
    for i, v in enumerate(values):
        out[i * n + i] = v
    return out


def imu_covariances(m: NoiseModel) -> tuple[list[float], list[float], list[float]]:
    """(orientation, angular_velocity, linear_acceleration) 3x3 row-major covariances."""
    return (_diag(*[m.orientation_sd ** 2] * 3), _diag(*[m.gyro_sd ** 2] * 3),
            _diag(*[m.accel_sd ** 2] * 3))


def odometry_covariances(m: NoiseModel, travelled: float = 0.0) -> tuple[list[float], list[float]]:
    """(pose, twist) 6x6 row-major covariances (x y z roll pitch yaw). The pose's grows with the
    distance `travelled` (m) by the speed scale error: dead reckoning drifts."""
    xy = m.position_sd ** 2 + (m.speed_scale_error * travelled) ** 2
    small = 1e-4   # z, roll, pitch: a legged base's odometry is planar; kept tiny, not zero
    pose = _diag(xy, xy, small, small, small, m.heading_sd ** 2)
    twist = _diag(m.speed_sd ** 2, m.speed_sd ** 2, small, small, small, m.yaw_rate_sd ** 2)
    return pose, twist


def fix_covariance(m: NoiseModel) -> list[float]:
    h, v = m.fix_horizontal_sd ** 2, m.fix_vertical_sd ** 2
    return _diag(h, h, v)


@dataclass
class Reading:
    """What the base reports for one tick: odometry (odom frame) and the IMU (imu_link)."""
    position: np.ndarray             # m, odom frame
    orientation: np.ndarray          # w x y z, odom frame
    linear_velocity: np.ndarray      # m/s at base_link, body frame
    angular_velocity: np.ndarray     # rad/s, body frame (odometry twist)
    gyro: np.ndarray                 # rad/s, body frame (IMU)
    specific_force: np.ndarray       # m/s^2, body frame (IMU)
    travelled: float                 # m since the start (for the pose covariance)


class SensorNoise:
    """Turns the true BaseState into the readings of `model`'s sensors, tick by tick."""

    def __init__(self, model: NoiseModel, realistic: bool, seed: int) -> None:
        self.model, self.realistic = model, realistic
        self.rng = np.random.default_rng(seed)
        self.pose: tuple[float, float, float] | None = None   # dead-reckoned x, y, yaw
        self.travelled = 0.0

    def read(self, s: BaseState) -> Reading:
        self.travelled += float(np.hypot(*s.linear_velocity[:2])) * CONTROL_DT
        if not self.realistic:
            return Reading(s.position, s.orientation, s.linear_velocity, s.angular_velocity,
                           s.angular_velocity, s.specific_force, self.travelled)
        m, rng = self.model, self.rng
        gyro = s.angular_velocity + rng.normal(0.0, m.gyro_sd, 3)
        accel = s.specific_force + rng.normal(0.0, m.accel_sd, 3)
        velocity = s.linear_velocity * (1 + m.speed_scale_error) + np.append(
            rng.normal(0.0, m.speed_sd, 2), 0.0)
        yaw_rate = float(s.angular_velocity[2]) + m.yaw_rate_bias + rng.normal(0.0, m.yaw_rate_sd)
        if self.pose is None:
            self.pose = (float(s.position[0]), float(s.position[1]), s.yaw)
        x, y, yaw = self.pose
        c, sn = math.cos(yaw), math.sin(yaw)
        x += (c * velocity[0] - sn * velocity[1]) * CONTROL_DT
        y += (sn * velocity[0] + c * velocity[1]) * CONTROL_DT
        yaw += yaw_rate * CONTROL_DT
        self.pose = (x, y, yaw)
        # Roll and pitch from the truth (gravity keeps an IMU's tilt honest), yaw dead-reckoned.
        w, qx, qy, qz = (float(v) for v in s.orientation)
        true_yaw = s.yaw
        turn = yaw - true_yaw
        dw, dz = math.cos(turn / 2), math.sin(turn / 2)
        orientation = np.array([dw * w - dz * qz, dw * qx - dz * qy, dw * qy + dz * qx, dw * qz + dz * w])
        position = np.array([x, y, float(s.position[2])])
        angular = np.array([gyro[0], gyro[1], yaw_rate])
        return Reading(position, orientation, velocity, angular, gyro, accel, self.travelled)
