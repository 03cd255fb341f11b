"""Keyboard teleop for developers, as teleop_twist_keyboard (pure mapping + a small terminal loop).

    u i o        i/, forward/back, j/l turn left/right, u/o/m/. forward/back while turning,
    j k l        k stop; q/z all speeds up/down 10 %, w/x linear only, e/c angular only;
    m , .        Ctrl-C quits (zero is sent on exit).

A terminal reports key presses (and autorepeat, ~30 Hz while held), never releases: the loop
sends ZERO when no key came for `release_s` (0.25 s, longer than an autorepeat gap), so letting
go stops the dog well before the mux's 0.5 s timeout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MOVES: dict[str, tuple[int, int]] = {
    "i": (1, 0), ",": (-1, 0), "j": (0, 1), "l": (0, -1), "u": (1, 1), "o": (1, -1),
    "m": (-1, -1), ".": (-1, 1), "k": (0, 0)}
SPEEDS: dict[str, tuple[float, float]] = {
    "q": (1.1, 1.1), "z": (0.9, 0.9), "w": (1.1, 1.0), "x": (0.9, 1.0), "e": (1.0, 1.1),
    "c": (1.0, 0.9)}


@dataclass
class KeyboardTeleop:
    speed: float = 0.3          # m/s per forward key
    turn: float = 0.5           # rad/s per turn key
    max_speed: float = 1.0      # the scale-ups stop here (the safety node refuses above)
    max_turn: float = 1.0
    release_s: float = 0.25
    _last_key: float | None = field(init=False, default=None)
    _moving: bool = field(init=False, default=False)

    def key(self, char: str, now: float) -> tuple[float, float] | None:
        """(vx m/s, wz rad/s) to publish for a key press, or None for an unbound key."""
        if char in SPEEDS:
            a, b = SPEEDS[char]
            self.speed = min(self.speed * a, self.max_speed)
            self.turn = min(self.turn * b, self.max_turn)
            return None
        if char not in MOVES:
            return None
        x, th = MOVES[char]
        self._last_key, self._moving = now, (x, th) != (0, 0)
        return x * self.speed, th * self.turn

    def tick(self, now: float) -> tuple[float, float] | None:
        """ZERO once when the key was let go (no autorepeat for release_s), else None."""
        if self._moving and self._last_key is not None and now - self._last_key > self.release_s:
            self._moving = False
            return 0.0, 0.0
        return None
