"""Siren synthesis (pure numpy; no rclpy): wail, yelp, hi-lo; expiring unless refreshed.

Limits (docs/architecture.md, payload numbers): every tone within 100-5000 Hz; wail sweeps
500-1650 Hz over a 4-6 s cycle; yelp sweeps the same range at most 400 cycles/min; hi-lo holds
each tone 0.4 s. The tone is a pure sine (no harmonics above 5 kHz) whose phase runs on across
frames and tone changes, so nothing clicks. Frequency follows the sample clock; expiry follows
the caller's monotonic clock (`now`, s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from robot_dog.audio.devices import RATE_HZ
from robot_dog.payload.errors import RequestRefused, checked_duration

if TYPE_CHECKING:   # numpy loads when a siren is rendered: the tone table (TONES) is imported by
    import numpy as np  # robot_dog/verbs.py, and so by the station, which renders none

LOW_HZ, HIGH_HZ = 500.0, 1650.0          # wail and yelp sweep range
HILO_HZ = (960.0, 770.0)                 # hi-lo pair (the European two-tone)
TONES = ("wail", "yelp", "hilo")


@dataclass(frozen=True)
class SirenConfig:
    wail_period_s: float = 5.0           # 4-6 s
    yelp_period_s: float = 0.2           # 300 cycles/min (limit 400: >= 0.15 s)
    hilo_tone_s: float = 0.4
    level: float = 0.5                   # amplitude 0..1 before the mixer's volume and limiter
    default_duration_s: float = 10.0     # expires after this unless refreshed
    max_duration_s: float = 120.0

    def __post_init__(self) -> None:
        if not 4.0 <= self.wail_period_s <= 6.0:
            raise ValueError("wail cycle must be 4-6 s")
        if self.yelp_period_s < 60 / 400:
            raise ValueError("yelp above 400 cycles/min")


def frequency_at(tone: str, t: np.ndarray, config: SirenConfig = SirenConfig()) -> np.ndarray:
    """Instantaneous frequency (Hz) of `tone` at times `t` (s since the tone started)."""
    import numpy as np
    if tone == "wail":
        # Rise over 40 % of the cycle, fall over 60 % (a motor siren spins down slower).
        phase = np.mod(t, config.wail_period_s) / config.wail_period_s
        shape = np.where(phase < 0.4, phase / 0.4, 1.0 - (phase - 0.4) / 0.6)
        wail: np.ndarray = LOW_HZ + (HIGH_HZ - LOW_HZ) * np.sin(shape * np.pi / 2)
        return wail
    if tone == "yelp":
        phase = np.mod(t, config.yelp_period_s) / config.yelp_period_s
        yelp: np.ndarray = LOW_HZ + (HIGH_HZ - LOW_HZ) * (1.0 - np.abs(2.0 * phase - 1.0))  # triangle
        return yelp
    if tone == "hilo":
        high = np.mod(t, 2 * config.hilo_tone_s) < config.hilo_tone_s
        return np.where(high, HILO_HZ[0], HILO_HZ[1])
    raise ValueError(f"unknown siren tone {tone!r}")


class Siren:
    """The siren channel: a tone, its expiry, and the samples to play."""

    def __init__(self, config: SirenConfig = SirenConfig()) -> None:
        self.config = config
        self.tone: str | None = None
        self.expires_at = 0.0
        self._t = 0.0                    # s into the current tone (sample clock)
        self._phase = 0.0                # rad, continuous across frames

    def set(self, tone: str, max_duration_s: float, now: float) -> str:
        """Start, refresh or stop (tone 'off'); the accepted plan as text. RequestRefused if bad."""
        if tone == "off":
            self.tone = None
            return "siren off"
        if tone not in TONES:
            raise RequestRefused(f"unknown siren tone {tone!r}; one of {', '.join(TONES)}, off")
        duration = checked_duration(max_duration_s, self.config.default_duration_s,
                                    self.config.max_duration_s)
        if tone != self.tone:
            self._t = 0.0                # a refresh of the same tone keeps its sweep
        self.tone, self.expires_at = tone, now + duration
        return f"{tone} for {duration:g} s"

    def active(self, now: float) -> bool:
        if self.tone is not None and now >= self.expires_at:
            self.tone = None             # expired: nobody refreshed it
        return self.tone is not None

    def render(self, n: int, now: float) -> np.ndarray | None:
        """The next `n` samples (float32), or None when off or expired."""
        import numpy as np
        if not self.active(now):
            return None
        assert self.tone is not None
        t = self._t + np.arange(n) / RATE_HZ
        freq = frequency_at(self.tone, t, self.config)
        phase = self._phase + np.cumsum(2 * math.pi * freq / RATE_HZ)
        self._phase = float(np.mod(phase[-1], 2 * math.pi))
        self._t += n / RATE_HZ
        return (self.config.level * np.sin(phase)).astype(np.float32)
