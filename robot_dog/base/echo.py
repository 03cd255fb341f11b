"""Echo base (pure): a stand-in for the locomotion controller that does what it is told at once.

It walks only when standing, refuses to sit or damp while moving, and integrates its commanded
twist into a planar pose (x, y in m, yaw in rad) so `odom` moves as `cmd_vel` says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_dog.errors import Refused

MODES = ("stand", "sit", "damp")


@dataclass
class EchoBase:
    mode: str = "stand"
    vx: float = 0.0      # m/s, body frame
    vy: float = 0.0
    wz: float = 0.0      # rad/s
    x: float = 0.0       # m, odom frame
    y: float = 0.0
    yaw: float = 0.0     # rad
    _stamp: float | None = None

    @property
    def moving(self) -> bool:
        return (self.vx, self.vy, self.wz) != (0.0, 0.0, 0.0)

    def command(self, vx: float, vy: float, wz: float, now: float) -> str:
        """Follow a velocity command; '' when followed, else why not (then it stands still)."""
        self.advance(now)
        values = (vx, vy, wz)
        if not all(math.isfinite(v) for v in values):
            self.vx = self.vy = self.wz = 0.0
            return f"non-finite command {values}: stopped"
        if self.mode != "stand" and any(values):
            self.vx = self.vy = self.wz = 0.0
            return f"in {self.mode}: cannot walk"
        self.vx, self.vy, self.wz = values
        return ""

    def set_mode(self, mode: str, now: float) -> None:
        """Change posture, or Refused (unknown_mode, moving): the base's answer to set_mode."""
        self.advance(now)
        if mode not in MODES:
            raise Refused("unknown_mode", f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        if mode != "stand" and self.moving:
            raise Refused("moving", f"cannot {mode} while moving")
        self.mode = mode

    def advance(self, now: float) -> None:
        """Integrate the pose up to `now` (s, monotonic)."""
        if self._stamp is not None:
            dt = max(0.0, now - self._stamp)
            c, s = math.cos(self.yaw), math.sin(self.yaw)
            self.x += (self.vx * c - self.vy * s) * dt
            self.y += (self.vx * s + self.vy * c) * dt
            self.yaw = math.remainder(self.yaw + self.wz * dt, math.tau)
        self._stamp = now
