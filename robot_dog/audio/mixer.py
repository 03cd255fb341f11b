"""The megaphone's one mixer (pure numpy): priorities, ducking, volume cap, limiter.

Priorities: safety > the officer's live voice > the station's live voice > siren >
announcements (which voice wins, and why: robot_dog/audio/voices.py). While a source plays, every lower
source is ducked by `duck_db` (gain ramps over one frame, so nothing clicks). The sum is scaled
by the master volume (capped by `volume_cap`, and by the amplifier's cap upstream) and then
goes through a peak limiter whose output never exceeds `ceiling_dbfs`.

The limiter is block-based (5 ms blocks, instant attack, ramped release) rather than per
sample: vectorised numpy keeps it well under 1 % of a core at 48 kHz, and the attack is
applied before the block's peak, so the ceiling holds exactly; a final clip at the ceiling is a
guard, not the mechanism.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from robot_dog.audio.devices import RATE_HZ


class Priority(IntEnum):
    ANNOUNCEMENT = 0
    SIREN = 1
    STATION_VOICE = 2
    HANDHELD_VOICE = 3
    SAFETY = 4


@dataclass(frozen=True)
class MixerConfig:
    ceiling_dbfs: float = -1.0
    volume_cap: float = 1.0       # 0..1 of full scale, the highest master volume
    duck_db: float = -20.0        # lower sources while a higher one plays
    release_s: float = 0.15       # limiter gain back to 1 over this time
    block: int = 240              # limiter block, samples (5 ms)


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


class Limiter:
    """Peak limiter: |output| <= ceiling always; gain recovers linearly over `release_s`."""

    def __init__(self, config: MixerConfig = MixerConfig()) -> None:
        self.ceiling = db_to_gain(config.ceiling_dbfs)
        self.block = config.block
        self._release_per_block = config.block / (config.release_s * RATE_HZ)
        self.gain = 1.0

    def process(self, x: np.ndarray) -> np.ndarray:
        n = len(x) // self.block * self.block
        out = np.empty_like(x)
        if n:
            blocks = x[:n].reshape(-1, self.block)
            peaks = np.max(np.abs(blocks), axis=1)
            gains = np.empty(len(blocks), dtype=np.float32)
            g = self.gain
            for i, peak in enumerate(peaks):  # one step per 5 ms block, not per sample
                needed = self.ceiling / peak if peak > self.ceiling else 1.0
                g = min(needed, g + self._release_per_block)
                gains[i] = g
            self.gain = g
            out[:n] = (blocks * gains[:, None]).reshape(-1)
        if n < len(x):  # a tail shorter than a block: hold the current gain, guarded by the clip
            out[n:] = x[n:] * self.gain
        limited: np.ndarray = np.clip(out, -self.ceiling, self.ceiling)
        return limited


class Mixer:
    """Mixes one frame per call from whichever sources have sound."""

    def __init__(self, config: MixerConfig = MixerConfig()) -> None:
        self.config = config
        self.limiter = Limiter(config)
        self._duck = db_to_gain(config.duck_db)
        self._gains = {p: 1.0 for p in Priority}

    def mix(self, frames: dict[Priority, np.ndarray | None], n: int, volume: float) -> np.ndarray:
        """One frame of `n` samples: ducked sum x min(volume, cap), limited."""
        playing = [p for p, f in frames.items() if f is not None]
        top = max(playing, default=None)
        out = np.zeros(n, dtype=np.float32)
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        for priority in Priority:
            target = 1.0 if top is None or priority >= top else self._duck
            start = self._gains[priority]
            self._gains[priority] = target
            frame = frames.get(priority)
            if frame is None:
                continue
            gain = start + (target - start) * ramp
            out[: len(frame)] += frame[:n] * gain[: len(frame)]
        master = max(0.0, min(volume, self.config.volume_cap))
        return self.limiter.process(out * master)
