"""Navigation goals, pure: go to a point or follow a route, with progress and an honest outcome.

One `GoalTracker` per goal. The node feeds it the dog's pose, the time (s, any monotonic clock)
and whether the patrol input is the one driving (`driving`: the safety mux's winner is
`patrol`); it answers a velocity command for `patrol/cmd_vel`, the progress (distance left along
the remaining waypoints, ETA) and, once, the outcome:

- `arrived`: within `tolerance_m` of the last waypoint (a looping route never arrives);
- `cancelled`: the caller cancelled; `preempted`: a newer goal took its place;
- `estop`: the e-stop engaged (a release never resumes a goal: a new one must be sent);
- `blocked`: driving, but the dog has not moved `progress_m` in `blocked_after_s` (an obstacle,
  a fall, a base that does not walk);
- `timed_out`: longer than its time limit (by default twice the time at the goal's speed plus
  `timeout_margin_s`).

While another input drives (an officer on the handheld took over, a hold pauses the patrol)
the goal waits: no command counts toward `blocked`. `check_point` refuses what cannot be a
goal with a stable code (`not_finite`, `too_far`, and `in_obstacle` for a point inside an object
of the map when the node has one: obstacles.py), before anything moves.
"""
from __future__ import annotations

from robot_dog.errors import Refused

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from robot_dog.patrol.obstacles import Footprint, obstacle_at
from robot_dog.patrol.route import RouteConfig, RouteFollower

Point = tuple[float, float]


#: patrol/goal states of work still under way (the others: idle, an outcome, refused): what a
#: `cancel` can end.
RUNNING_STATES = ("active", "waiting")


class Outcome(str, Enum):
    ARRIVED = "arrived"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    ESTOP = "estop"
    BLOCKED = "blocked"
    TIMED_OUT = "timed_out"


class GoalRefused(Refused, ValueError):
    """A goal that cannot be taken: `code` is stable (snake_case), `detail` says why in words."""


@dataclass(frozen=True)
class GoalConfig:
    speed: float = 0.6              # m/s along the way
    tolerance_m: float = 0.5        # arrived within this of the last waypoint
    max_distance_m: float = 200.0   # a waypoint farther than this from the dog is refused
    blocked_after_s: float = 10.0   # driving without progress this long = blocked
    progress_m: float = 0.2         # what counts as progress
    timeout_margin_s: float = 30.0  # added to twice the distance / speed


def check_point(point: Point, pose: Point | None, config: GoalConfig,
                obstacles: Sequence[Footprint] = ()) -> Point:
    """A waypoint as a goal may take it, or GoalRefused. `obstacles`: the map's footprints (none
    without a map: then a point inside a wall is taken and ends `blocked`)."""
    x, y = point
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GoalRefused("not_finite", f"waypoint ({x}, {y}) is not a finite point")
    if pose is not None and math.dist(pose, point) > config.max_distance_m:
        raise GoalRefused("too_far", f"waypoint ({x:.1f}, {y:.1f}) is {math.dist(pose, point):.0f} m "
                                     f"away, beyond the {config.max_distance_m:g} m limit")
    inside = obstacle_at((x, y), obstacles)
    if inside is not None:
        raise GoalRefused("in_obstacle", f"waypoint ({x:.1f}, {y:.1f}) is inside {inside.name} "
                                         f"({inside.kind}): the dog cannot stand there")
    return float(x), float(y)


@dataclass(frozen=True)
class Progress:
    waypoint_index: int
    distance_left_m: float   # along the remaining waypoints (inf for a looping route)
    eta_s: float
    waiting: bool            # another input drives; the goal waits


@dataclass
class GoalTracker:
    waypoints: Sequence[Point]
    started: float
    config: GoalConfig = GoalConfig()
    loop: bool = False
    timeout_s: float = 0.0            # 0: from the distance (set at the first step)
    outcome: Outcome | None = None
    detail: str = ""
    _follower: RouteFollower = field(init=False)
    _anchor: Point | None = field(init=False, default=None)   # where the dog was at _anchor_at
    _anchor_at: float = field(init=False)
    _deadline: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.waypoints:
            raise GoalRefused("no_waypoints", "a goal needs at least one waypoint")
        route_config = RouteConfig(speed=self.config.speed)
        if self.config.tolerance_m < route_config.reach_m:
            # The follower passes a waypoint at reach_m; a one-way goal ends before it would.
            raise GoalRefused("bad_tolerance", f"tolerance {self.config.tolerance_m:g} m is "
                                               f"below the follower's {route_config.reach_m:g} m")
        points = list(self.waypoints)
        # RouteFollower walks a closed loop of >= 2 points; a one-way goal stops at its end.
        route = points if len(points) >= 2 else points * 2
        self._follower = RouteFollower(route, route_config)
        self._anchor_at = self.started

    # ---- requests ------------------------------------------------------------------------------
    def finish(self, outcome: Outcome, detail: str) -> None:
        """End the goal (cancel, pre-emption, e-stop); the first outcome stands."""
        if self.outcome is None:
            self.outcome, self.detail = outcome, detail

    # ---- the loop ------------------------------------------------------------------------------
    def step(self, pose: tuple[float, float, float], now: float,
             driving: bool) -> tuple[tuple[float, float], Progress]:
        """(vx m/s, wz rad/s) for `patrol/cmd_vel` and the progress; zero once there is an outcome."""
        x, y, yaw = pose
        if self._deadline is None:
            limit = self.timeout_s or (2 * self._left((x, y)) / max(self.config.speed, 1e-3)
                                       + self.config.timeout_margin_s)
            self._deadline = self.started + limit
        left = self._left((x, y))
        if self.outcome is None:
            self._judge((x, y), left, now, driving)
        progress = Progress(self._follower.index, left,
                            left / max(self.config.speed, 1e-3), waiting=not driving)
        if self.outcome is not None:
            return (0.0, 0.0), progress
        return self._follower.command(x, y, yaw), progress

    def _judge(self, here: Point, left: float, now: float, driving: bool) -> None:
        last = self.waypoints[-1]
        if not self.loop and self._on_last_leg() and math.dist(here, last) <= self.config.tolerance_m:
            self.finish(Outcome.ARRIVED, f"within {math.dist(here, last):.2f} m of "
                                         f"({last[0]:.1f}, {last[1]:.1f})")
            return
        assert self._deadline is not None
        if now > self._deadline:
            self.finish(Outcome.TIMED_OUT, f"not there after {now - self.started:.0f} s")
            return
        if (not driving or self._anchor is None
                or math.dist(here, self._anchor) >= self.config.progress_m):
            # Moving, or another input has the dog (waiting is not being blocked): start over.
            self._anchor, self._anchor_at = here, now
        elif now - self._anchor_at > self.config.blocked_after_s:
            self.finish(Outcome.BLOCKED, f"moved less than {self.config.progress_m:g} m in "
                                         f"{now - self._anchor_at:.0f} s ({left:.1f} m left)")

    def _on_last_leg(self) -> bool:
        return len(self.waypoints) == 1 or self._follower.index == len(self.waypoints) - 1

    def _left(self, here: Point) -> float:
        """Distance from here to the current waypoint, then along the rest (inf when looping)."""
        if self.loop:
            return math.inf
        points = list(self.waypoints)
        index = min(self._follower.index, len(points) - 1)
        total = math.dist(here, points[index])
        for a, b in zip(points[index:], points[index + 1:]):
            total += math.dist(a, b)
        return total
