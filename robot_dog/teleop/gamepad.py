"""Gamepad teleop mapping in the manner of teleop_twist_joy (pure: evdev events in, twists out).

A mapping file (YAML) names the evdev codes: an enable (deadman) button, a turbo button, the
axes for forward, sideways and turn, their scales (m/s, rad/s at full deflection; turbo scales
while turbo is held) and each axis's raw range. Policy, as teleop_twist_joy: while the enable
button is held the twist is published at `rate_hz`; when it is released ZERO is published once,
then nothing. Events from an unknown code are ignored. A held stick sends no events (evdev
reports changes only), so silence is not staleness: a device that goes away is reported by the
driver (`disconnected()`), which stops like a release.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EV_SYN, EV_KEY, EV_ABS = 0, 1, 3   # linux/input-event-codes.h


@dataclass(frozen=True)
class Axis:
    code: int
    minimum: int = -32768
    maximum: int = 32767
    invert: bool = False       # evdev Y axes grow downwards: forward is negative
    deadzone: float = 0.05     # fraction of half the range around the centre

    def normalise(self, raw: int) -> float:
        """Raw axis value -> [-1, 1], centre 0, with the deadzone cut out."""
        half = (self.maximum - self.minimum) / 2
        value = (raw - self.minimum - half) / half
        value = max(-1.0, min(1.0, value))
        if abs(value) < self.deadzone:
            return 0.0
        return -value if self.invert else value


@dataclass(frozen=True)
class GamepadMapping:
    enable_button: int
    turbo_button: int | None
    linear_x: Axis
    angular_z: Axis
    linear_y: Axis | None = None
    scale_linear: float = 0.5         # m/s at full stick
    scale_linear_turbo: float = 1.0
    scale_angular: float = 0.8        # rad/s
    scale_angular_turbo: float = 1.0
    rate_hz: float = 20.0

    @classmethod
    def from_file(cls, path: str | Path) -> "GamepadMapping":
        doc = yaml.safe_load(Path(path).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a mapping file is a YAML mapping")
        axes = {name: Axis(**doc.pop(name)) for name in ("linear_x", "angular_z", "linear_y")
                if doc.get(name) is not None}
        try:
            return cls(**doc, **axes)
        except TypeError as exc:
            raise ValueError(f"{path}: {exc}") from None


@dataclass
class GamepadCore:
    mapping: GamepadMapping
    _raw: dict[int, int] = field(init=False, default_factory=dict)
    _buttons: dict[int, bool] = field(init=False, default_factory=dict)
    _enabled: bool = field(init=False, default=False)
    _next_send: float = field(init=False, default=float("-inf"))

    def feed(self, ev_type: int, code: int, value: int, now: float) -> None:
        """One evdev event (type, code, value) at `now` (s)."""
        if ev_type == EV_KEY:
            self._buttons[code] = value != 0     # 1 press, 2 autorepeat, 0 release
        elif ev_type == EV_ABS:
            self._raw[code] = value

    def _axis(self, axis: Axis | None) -> float:
        if axis is None or axis.code not in self._raw:
            return 0.0
        return axis.normalise(self._raw[axis.code])

    def twist(self) -> tuple[float, float, float]:
        """(vx m/s, vy m/s, wz rad/s) of the current stick positions."""
        m = self.mapping
        turbo = m.turbo_button is not None and self._buttons.get(m.turbo_button, False)
        lin = m.scale_linear_turbo if turbo else m.scale_linear
        ang = m.scale_angular_turbo if turbo else m.scale_angular
        return (self._axis(m.linear_x) * lin, self._axis(m.linear_y) * lin,
                self._axis(m.angular_z) * ang)

    def tick(self, now: float) -> tuple[float, float, float] | None:
        """What to publish at `now`: the twist while enabled (at rate_hz), ZERO once on release."""
        if self._buttons.get(self.mapping.enable_button, False):
            self._enabled = True
            if now + 1e-9 >= self._next_send:   # 1 ns: float ticks of 1/rate_hz
                self._next_send = now + 1.0 / self.mapping.rate_hz
                return self.twist()
            return None
        if self._enabled:
            self._enabled = False
            return (0.0, 0.0, 0.0)
        return None


def disconnected(core: GamepadCore) -> None:
    """The device went away: every button and axis is released (the next tick sends ZERO)."""
    core._buttons.clear()
    core._raw.clear()


def describe(mapping: GamepadMapping) -> dict[str, Any]:
    """The mapping as plain data (for the node's start-up log)."""
    return {"enable": mapping.enable_button, "turbo": mapping.turbo_button,
            "linear_x": mapping.linear_x.code, "angular_z": mapping.angular_z.code}
