"""The paired handheld's session (pure): deadman, heartbeat and what to send to the dog.

Policy: a `drive` commands the twist (axes times the speed mode's caps); `stop` (the deadman
released) commands zero at once. Heartbeats (`beat`, and any other frame) keep the session live;
when none came for `heartbeat_s` the session stops the drive (zero) and stops checking in as the
`handheld` e-stop endpoint, so the safety node's deadline engages a controlled stop that only
the handheld (after pairing again) or an admin releases. A clean `leave` leaves the e-stop watch
until the handheld drives again (heartbeats alone do not re-join).

After a lapse the stick must be re-centred: the zero this session sends at the lapse is not the
officer letting go, yet the dog's restart interlock hears it as the stick at neutral, so a stick
still held through the lapse would drive again right after a release. Until the page sends a
neutral (`stop`, or a drive at zero), its deflections are passed on as zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_dog.safety.limits import Limits

#: (m/s, rad/s) at full stick until the safety node's motion/state says the current caps: the
#: crowd caps, the lower of the two speed modes.
START_CAPS = Limits().caps("crowd")


@dataclass
class HandheldSession:
    heartbeat_s: float = 0.5
    linear_cap: float = START_CAPS[0]   # m/s at full stick; follows the safety node's speed mode
    angular_cap: float = START_CAPS[1]  # rad/s
    last_heard: float | None = None
    driving: bool = False
    left: bool = False
    talking: bool = False       # push-to-talk held: audio frames go to the megaphone
    _lost: bool = field(init=False, default=False)
    _recentre: bool = field(init=False, default=False)   # lapsed: a deflection waits for neutral

    def heard(self, now: float) -> None:
        self.last_heard, self._lost = now, False

    def drive(self, x: float, z: float, now: float) -> tuple[float, float]:
        """(vx m/s, wz rad/s) for stick axes in [-1, 1]; driving again after `leave` re-joins."""
        self.heard(now)
        self.left = False
        if (x, z) == (0.0, 0.0):
            self._recentre = False
        self.driving = (x, z) != (0.0, 0.0) and not self._recentre
        if self._recentre:
            return 0.0, 0.0
        return x * self.linear_cap, z * self.angular_cap

    def stop(self, now: float) -> tuple[float, float]:
        self.heard(now)
        self.driving = self._recentre = False
        return 0.0, 0.0

    def live(self, now: float) -> bool:
        return self.last_heard is not None and not self.left and \
            now - self.last_heard <= self.heartbeat_s

    def lost(self, now: float) -> bool:
        """True once when the heartbeat lapses (then: send zero, stop checking in)."""
        if self.last_heard is None or self.left or self._lost or self.live(now):
            return False
        self._lost, self.driving, self.talking = True, False, False
        self._recentre = True
        return True
