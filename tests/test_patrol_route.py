"""The route follower, pure: driven around its loop by a perfect base (kinematic integration)."""
import math

import pytest

from robot_dog.patrol.route import RouteConfig, RouteFollower


def drive(follower: RouteFollower, seconds: float, dt: float = 0.05):
    x = y = yaw = 0.0
    path = []
    for _ in range(round(seconds / dt)):
        vx, wz = follower.command(x, y, yaw)
        assert 0 <= vx <= follower.config.speed and abs(wz) <= follower.config.turn_rate
        x += vx * math.cos(yaw) * dt
        y += vx * math.sin(yaw) * dt
        yaw += wz * dt
        path.append((x, y))
    return path


def test_walks_every_waypoint_of_the_loop_and_laps():
    square = [(3.0, 0.0), (3.0, 3.0), (0.0, 3.0), (0.0, 0.0)]
    follower = RouteFollower(square, RouteConfig(speed=0.6))
    path = drive(follower, 60.0)
    for wx, wy in square:
        assert min(math.dist(p, (wx, wy)) for p in path) < 0.3
    assert follower.laps >= 1
    assert max(abs(x) for x, _ in path) < 3.6 and max(abs(y) for _, y in path) < 3.6


def test_turns_in_place_toward_a_waypoint_behind():
    follower = RouteFollower([(-2.0, 0.0), (0.0, 0.0)])
    vx, wz = follower.command(0.5, 0.0, 0.0)
    assert vx == 0.0 and abs(wz) == pytest.approx(follower.config.turn_rate)


def test_needs_two_waypoints():
    with pytest.raises(ValueError):
        RouteFollower([(1.0, 1.0)])
