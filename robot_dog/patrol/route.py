"""Route following, pure: from the dog's pose to a velocity command along a closed loop of
waypoints. Turn on the spot when the next waypoint is well off the heading, else walk toward it
steering proportionally; a waypoint within `reach_m` is passed and the next one taken.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RouteConfig:
    speed: float = 0.6          # m/s along the route
    turn_rate: float = 0.8      # rad/s, most the follower asks for
    reach_m: float = 0.25       # a waypoint this close is passed
    turn_in_place: float = 0.6  # rad of heading error above which the dog stops and turns
    gain: float = 1.5           # rad/s per rad of heading error


class RouteFollower:
    def __init__(self, waypoints: Sequence[tuple[float, float]], config: RouteConfig = RouteConfig()) -> None:
        if len(waypoints) < 2:
            raise ValueError("a route needs at least two waypoints")
        self.waypoints = [tuple(map(float, p)) for p in waypoints]
        self.config = config
        self.index = 0
        self.laps = 0

    @property
    def target(self) -> tuple[float, float]:
        return self.waypoints[self.index]

    def command(self, x: float, y: float, yaw: float) -> tuple[float, float]:
        """(vx m/s, wz rad/s) for the dog at (x, y) m heading `yaw` rad."""
        c = self.config
        for _ in range(len(self.waypoints)):  # at most once round (all within reach: stay)
            if math.dist((x, y), self.target) >= c.reach_m:
                break
            self.index = (self.index + 1) % len(self.waypoints)
            if self.index == 0:
                self.laps += 1
        tx, ty = self.target
        error = math.remainder(math.atan2(ty - y, tx - x) - yaw, math.tau)
        wz = max(-c.turn_rate, min(c.turn_rate, c.gain * error))
        if abs(error) > c.turn_in_place:
            return 0.0, wz
        # Slow down for the last half metre, and while still turning.
        vx = c.speed * min(1.0, math.dist((x, y), (tx, ty)) / 0.5 + 0.3) * math.cos(error)
        return max(0.0, vx), wz
