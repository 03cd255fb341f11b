"""The payload MCU and its e-stop button as endpoints of the dog's e-stop (pure; times in s).

payload_node speaks for two endpoints of safety_node's e-stop (robot_dog/safety/estop.py):

- `mcu`: checked in while the MCU's telemetry is fresh. When the link is lost (cable, MCU
  crash, payload_node gone) the check-ins stop and safety_node's deadline gives a controlled
  stop: a dog whose payload cannot hear its e-stop button must not walk. The hold stays until
  the link is back and it is released on explicit request (`robot-dog teleop release mcu`).
- `button`: the MCU reports its e-stop button in telemetry (safe reason BUTTON). A press
  engages an immediate stop; while the button stays down the engage is repeated every
  `reassert_s`, so a release asked for while it is still pressed does not last. Pulling the
  button out does not release the dog: that is an explicit request too
  (`robot-dog teleop release button`).
"""
from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.messages import SafeReason

MCU, BUTTON = "mcu", "button"
BUTTON_REASON = "e-stop button on the payload pressed"


@dataclass(frozen=True)
class CheckIn:
    endpoint: str
    timeout_s: float


@dataclass(frozen=True)
class Engage:
    endpoint: str
    reason: str


@dataclass
class HardwareEstop:
    #: safety_node holds the dog when no check-in came for this long.
    timeout_s: float = 2.0
    #: check in while the newest telemetry is at most this old (payload_node's STALE limit).
    fresh_s: float = 1.0
    every_s: float = 0.25
    reassert_s: float = 1.0
    button_pressed: bool | None = None      # None: not known (no fresh telemetry)
    _checked_in: float | None = None
    _engaged: float | None = None

    def tick(self, now: float, telemetry_age: float | None,
             safe_reasons: int | None) -> list[CheckIn | Engage]:
        """What to tell safety_node now, from the newest telemetry's age and safe reasons."""
        fresh = telemetry_age is not None and telemetry_age <= self.fresh_s
        if not fresh or safe_reasons is None:
            self.button_pressed = None       # unknown: the mcu endpoint's deadline covers it
            return []
        actions: list[CheckIn | Engage] = []
        if self._checked_in is None or now - self._checked_in >= self.every_s:
            self._checked_in = now
            actions.append(CheckIn(MCU, self.timeout_s))
        pressed = bool(int(safe_reasons) & SafeReason.BUTTON)
        newly = pressed and not self.button_pressed
        self.button_pressed = pressed
        if newly or (pressed and self._engaged is not None and now - self._engaged >= self.reassert_s):
            self._engaged = now
            actions.append(Engage(BUTTON, BUTTON_REASON))
        return actions
