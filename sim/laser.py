"""A simulated 2D laser scanner on the dog's head, no ROS: MuJoCo ray casts from the laser site
in the plane of the trunk, against the scene only (geom group 0: ground, objects, pedestrians),
never the dog itself. What sensor_msgs/LaserScan carries: angles counter-clockwise from the
laser's x axis (REP 103), ranges in metres, +inf where nothing is within `range_max`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from sim import robot as R

SCENE_GROUP = 0   # scene geoms; the robot's are in groups 1-4 (sim.model)


@dataclass(frozen=True)
class LaserConfig:
    beams: int = 360                 # over a full turn: 1 degree apart
    range_min: float = 0.1           # m: nearer returns are dropped (the head's own housing)
    range_max: float = 12.0          # m
    rate_hz: float = 10.0            # scans per s of sim time

    @property
    def angle_min(self) -> float:
        return -math.pi

    @property
    def angle_increment(self) -> float:
        return 2 * math.pi / self.beams

    @property
    def angle_max(self) -> float:
        return self.angle_min + (self.beams - 1) * self.angle_increment


class LaserScanner:
    def __init__(self, model: mujoco.MjModel, config: LaserConfig = LaserConfig()) -> None:
        self.model, self.config = model, config
        self.site = model.site(R.LASER_SITE).id
        angles = config.angle_min + config.angle_increment * np.arange(config.beams)
        # Beam directions in the laser's frame (level with the trunk), as rows.
        self.local = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
        self.geomgroup = np.zeros(6, dtype=np.uint8)
        self.geomgroup[SCENE_GROUP] = 1
        self._geomid = np.zeros(config.beams, dtype=np.int32)
        self._dist = np.zeros(config.beams, dtype=np.float64)

    def scan(self, data: mujoco.MjData) -> np.ndarray:
        """Ranges (m, float32) for the pose in `data` (kinematics computed); inf = no return."""
        origin = data.site_xpos[self.site].copy()
        rot = data.site_xmat[self.site].reshape(3, 3)
        directions = (self.local @ rot.T).ravel()
        mujoco.mj_multiRay(self.model, data, origin, directions, self.geomgroup, 1, -1,
                           self._geomid, self._dist, None, self.config.beams, self.config.range_max)
        ranges = self._dist.astype(np.float32)
        ranges[(self._geomid < 0) | (ranges > self.config.range_max)] = np.inf
        ranges[ranges < self.config.range_min] = np.inf
        return ranges
