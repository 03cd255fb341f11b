"""The head's laser scanner (MuJoCo ray casts) in the obstacles scenario: the crate ahead and
the bollard to the right at the distances the scenario puts them, nothing of the dog itself,
and an open direction reads inf."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import SimWorld, step
from sim.laser import LaserConfig, LaserScanner
from sim.model import LASER_POS
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def scan() -> np.ndarray:
    world = SimWorld(load_scenario("obstacles"), "kinematic")
    step(world)
    return LaserScanner(world.model).scan(world.data)


def beam(angle_deg: float) -> int:
    config = LaserConfig()
    return round((math.radians(angle_deg) - config.angle_min) / config.angle_increment)


def test_obstacles_at_their_distances(scan):
    # crate_ahead: 1 m cube centred 2.5 m ahead; the laser sits LASER_POS[0] forward of base_link
    assert scan[beam(0)] == pytest.approx(2.5 - 0.5 - LASER_POS[0], abs=0.01)
    # bollard_right: 0.3 m diameter, centred 2 m to the right of base_link (behind the laser)
    dx, dy = 0.0 - LASER_POS[0], -2.0
    assert scan[beam(math.degrees(math.atan2(dy, dx)))] == pytest.approx(math.hypot(dx, dy) - 0.15, abs=0.02)


def test_never_hits_the_dog_and_open_space_is_inf(scan):
    finite = scan[np.isfinite(scan)]
    assert finite.min() > 1.0                       # nearest obstacle is metres away, never the dog
    assert len(scan) == LaserConfig().beams
    assert np.isinf(scan[beam(-45)])                # between the crate and the bollard: open yard
