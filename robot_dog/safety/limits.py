"""Speed and acceleration limits of the base (pure).

Speed modes cap what any input may command: `normal` 1.0 m/s and 1.0 rad/s by default, `crowd`
0.5 m/s for walking among people. A command above the absolute limit is refused (twist.py); one
within it but above the current mode's cap is scaled down to the cap and reported (never silently).
Acceleration is limited when speed grows (1.0 m/s^2, 2.0 rad/s^2); slowing down is never delayed
by the ramp: a stop must be a stop. The category-1 e-stop decelerates at `stop_decel` instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_dog.safety.twist import ZERO, Twist

SPEED_MODES = ("normal", "crowd")


@dataclass(frozen=True)
class Limits:
    max_linear: float = 1.0        # m/s, absolute: above this a command is refused
    max_angular: float = 1.0       # rad/s, absolute
    crowd_linear: float = 0.5      # m/s, cap in crowd mode
    crowd_angular: float = 1.0     # rad/s, cap in crowd mode
    accel_linear: float = 1.0      # m/s^2 while speeding up
    accel_angular: float = 2.0     # rad/s^2 while speeding up
    stop_decel_linear: float = 2.0   # m/s^2, controlled (category 1) stop: 1 m/s -> 0 in 0.5 s
    stop_decel_angular: float = 4.0  # rad/s^2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.crowd_linear > self.max_linear or self.crowd_angular > self.max_angular:
            raise ValueError("crowd caps must not exceed the absolute limits")

    def caps(self, speed_mode: str) -> tuple[float, float]:
        """(linear m/s, angular rad/s) cap of a speed mode."""
        if speed_mode == "crowd":
            return self.crowd_linear, self.crowd_angular
        if speed_mode == "normal":
            return self.max_linear, self.max_angular
        raise ValueError(f"unknown speed mode {speed_mode!r}; known: {', '.join(SPEED_MODES)}")


def cap(twist: Twist, linear_cap: float, angular_cap: float) -> tuple[Twist, str]:
    """`twist` within the caps, and a note saying what was limited ('' when nothing was)."""
    notes = []
    vx, vy, wz = twist.vx, twist.vy, twist.wz
    speed = math.hypot(vx, vy)
    if speed > linear_cap:
        scale = linear_cap / speed  # keep the direction, shorten the vector
        vx, vy = vx * scale, vy * scale
        notes.append(f"linear {speed:.3g} -> {linear_cap:g} m/s")
    if abs(wz) > angular_cap:
        notes.append(f"angular {abs(wz):.3g} -> {angular_cap:g} rad/s")
        wz = math.copysign(angular_cap, wz)
    return Twist(vx, vy, wz), "; ".join(notes)


def _axis(current: float, target: float, step: float) -> float:
    """One axis: slowing down (towards 0, same sign) is immediate; speeding up at most `step`."""
    if target == 0.0 or (math.copysign(1, target) == math.copysign(1, current)
                         and abs(target) <= abs(current)):
        return target
    start = current if math.copysign(1, target) == math.copysign(1, current) else 0.0
    if abs(target - start) <= step:
        return target
    return start + math.copysign(step, target - start)


def ramp(current: Twist, target: Twist, dt: float, limits: Limits) -> Twist:
    """The next output towards `target` after `dt` s under the acceleration limits."""
    dt = max(dt, 0.0)
    return Twist(_axis(current.vx, target.vx, limits.accel_linear * dt),
                 _axis(current.vy, target.vy, limits.accel_linear * dt),
                 _axis(current.wz, target.wz, limits.accel_angular * dt))


def _towards_zero(value: float, step: float) -> float:
    return 0.0 if abs(value) <= step else value - math.copysign(step, value)


def decelerate(current: Twist, dt: float, limits: Limits) -> Twist:
    """Controlled stop: `current` after `dt` s of braking at the stop deceleration; ends at ZERO."""
    dt = max(dt, 0.0)
    out = Twist(_towards_zero(current.vx, limits.stop_decel_linear * dt),
                _towards_zero(current.vy, limits.stop_decel_linear * dt),
                _towards_zero(current.wz, limits.stop_decel_angular * dt))
    return ZERO if out.is_zero else out
