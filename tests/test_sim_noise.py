"""The sensors' noise model: exact readings unless realistic, then white noise and odometry
that drifts from the truth; covariances never zero; the same seed gives the same readings."""
from __future__ import annotations

import math

import numpy as np

from sim.core import BaseState
from sim.noise import NoiseModel, SensorNoise, imu_covariances, odometry_covariances


def state(t: float, vx: float = 0.5) -> BaseState:
    yaw = 0.0
    return BaseState(time=t, position=np.array([vx * t, 0.0, 0.3]),
                     orientation=np.array([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]),
                     linear_velocity=np.array([vx, 0.0, 0.0]), angular_velocity=np.zeros(3),
                     specific_force=np.array([0.0, 0.0, 9.81]), joint_position=np.zeros(12),
                     joint_velocity=np.zeros(12), joint_effort=np.zeros(12))


def run(noise: SensorNoise, ticks: int = 1000):
    return [noise.read(state(i * 0.02)) for i in range(ticks)]


def test_off_reports_the_truth():
    readings = run(SensorNoise(NoiseModel(), realistic=False, seed=1))
    last = readings[-1]
    assert np.array_equal(last.position, state(999 * 0.02).position)
    assert np.array_equal(last.gyro, np.zeros(3))


def test_realistic_odometry_drifts_and_the_imu_is_noisy():
    readings = run(SensorNoise(NoiseModel(), realistic=True, seed=1))
    truth = state(999 * 0.02)
    error = float(np.linalg.norm(readings[-1].position[:2] - truth.position[:2]))
    assert 0.05 < error < 2.0, error            # 20 s at 0.5 m/s: a few per cent of 10 m
    gyro = np.array([r.gyro for r in readings])
    assert 0.5 * NoiseModel().gyro_sd < gyro[:, 0].std() < 2 * NoiseModel().gyro_sd


def test_same_seed_same_readings():
    a = run(SensorNoise(NoiseModel(), realistic=True, seed=5), 50)
    b = run(SensorNoise(NoiseModel(), realistic=True, seed=5), 50)
    assert all(np.array_equal(x.position, y.position) for x, y in zip(a, b))


def test_covariances_are_positive_and_pose_grows_with_distance():
    for matrix in (*imu_covariances(NoiseModel()), *odometry_covariances(NoiseModel())):
        n = int(math.isqrt(len(matrix)))
        assert all(matrix[i * n + i] > 0 for i in range(n))
    near, _ = odometry_covariances(NoiseModel(), 0.0)
    far, _ = odometry_covariances(NoiseModel(), 100.0)
    assert far[0] > near[0]
