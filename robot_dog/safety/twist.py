"""Planar velocity commands of a legged base and their checks (pure).

A quadruped walks in the plane: forward `vx` and sideways `vy` (m/s), turning `wz` (rad/s).
Anything else in a geometry_msgs/Twist must be zero. Bad values are refused with a reason,
never clamped silently (a NaN clamped to 0 would hide a broken client).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_dog.safety.errors import Refused


@dataclass(frozen=True)
class Twist:
    vx: float = 0.0   # m/s, forward
    vy: float = 0.0   # m/s, left
    wz: float = 0.0   # rad/s, counter-clockwise

    @property
    def is_zero(self) -> bool:
        return self.vx == 0.0 and self.vy == 0.0 and self.wz == 0.0


ZERO = Twist()


def check_twist(linear: tuple[float, float, float], angular: tuple[float, float, float],
                max_linear: float, max_angular: float) -> Twist:
    """The planar Twist of a ROS twist's six numbers, or Refused with the reason.

    Limits are the absolute ones (m/s, rad/s): beyond them a command is refused, not limited.
    """
    names = ("linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z")
    values = (*linear, *angular)
    for name, value in zip(names, values):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Refused(f"{name} is not a number: {value!r}", "not_a_number")
        if not math.isfinite(value):
            raise Refused(f"{name} is {value}: not finite", "not_finite")
    for name in ("linear.z", "angular.x", "angular.y"):
        if values[names.index(name)] != 0.0:
            raise Refused(f"{name} must be 0 for a walking base, got {values[names.index(name)]:g}",
                          "not_planar")
    vx, vy, wz = float(linear[0]), float(linear[1]), float(angular[2])
    if math.hypot(vx, vy) > max_linear + 1e-9:
        raise Refused(f"linear speed {math.hypot(vx, vy):.3g} m/s above the limit {max_linear:g} m/s",
                      "above_limit")
    if abs(wz) > max_angular + 1e-9:
        raise Refused(f"angular speed {abs(wz):.3g} rad/s above the limit {max_angular:g} rad/s",
                      "above_limit")
    return Twist(vx, vy, wz)
