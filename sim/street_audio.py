"""Street audio, pure: the scenario's positioned sound sources mixed by distance into PCM at the
dog's microphone. No audio device here: the simulator plays the chunks into the street virtual
sink that the microphone node records (the device helper belongs to the audio part).

Model: each source has a level in dB SPL at 1 m; at distance d (m) it arrives
`20 log10(d)` dB weaker (spherical spreading, d clamped to >= 1 m) and d / 343 s later.
Calibration: `FULL_SCALE_SPL` dB SPL = 0 dBFS at the microphone (a loud-street microphone).
Signals are synthesised, deterministic from the scenario seed: crowd murmur (band-limited
noise, from `at` on), shout (a voiced 0.8 s call), glass break (a bright 0.5 s crash), car horn
(two tones, 1 s).
"""
from __future__ import annotations

import math

import numpy as np

from sim.scenario import Scenario, SoundEvent

SPEED_OF_SOUND = 343.0     # m/s
FULL_SCALE_SPL = 120.0     # dB SPL that reaches 0 dBFS
DURATION_S = {"shout": 0.8, "glass_break": 0.5, "car_horn": 1.0}


def gain_at(level_db_spl: float, distance_m: float) -> float:
    """Linear amplitude (full scale = 1) of a source of `level_db_spl` at 1 m, heard at distance."""
    return 10 ** ((level_db_spl - 20 * math.log10(max(distance_m, 1.0)) - FULL_SCALE_SPL) / 20)


def synthesize(kind: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The source signal at times `t` (s since it started), peak about 1."""
    if kind == "crowd":
        noise = rng.standard_normal(t.size)
        kernel = np.hanning(31)   # ~ 500 Hz low-pass at 16 kHz: murmur, not hiss
        murmur = np.convolve(noise, kernel / kernel.sum(), mode="same") * 3.0
        return murmur * (0.7 + 0.3 * np.sin(2 * np.pi * 0.4 * t))
    inside = (t >= 0) & (t < DURATION_S[kind])
    if kind == "shout":
        # 320 Hz with a 5 Hz, +-40 Hz vibrato; the phase is the frequency's exact integral, so
        # consecutive chunks join without clicks.
        phase = 2 * np.pi * 320 * t - (40 / 5) * np.cos(2 * np.pi * 5 * t)
        voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.6
        envelope = np.sin(np.pi * np.clip(t / DURATION_S[kind], 0, 1))
        return np.where(inside, voice * envelope, 0.0)
    if kind == "glass_break":
        crash = rng.standard_normal(t.size)
        crash = np.diff(crash, prepend=0.0) * 0.5                 # high-pass: bright
        tinkle = sum(np.sin(2 * np.pi * f * t) for f in (3100, 4300, 5200)) / 3
        return np.where(inside, (crash + 0.5 * tinkle) * np.exp(-6 * t), 0.0)
    if kind == "car_horn":
        tone = np.sign(np.sin(2 * np.pi * 420 * t)) + np.sign(np.sin(2 * np.pi * 500 * t))
        return np.where(inside, tone * 0.4, 0.0)
    raise ValueError(f"unknown sound kind {kind!r}")


class StreetMix:
    """Mixes the scenario's sounds for a listener; `render(t0, n, x, y)` -> float32 samples."""

    def __init__(self, scenario: Scenario, sample_rate: int = 16000) -> None:
        self.sounds: tuple[SoundEvent, ...] = scenario.sounds
        self.sample_rate = sample_rate
        self.seed = scenario.seed

    def render(self, t0: float, n: int, x: float, y: float) -> np.ndarray:
        """`n` samples from sim time `t0` (s) heard at (x, y) m; full scale = 1.0, clipped."""
        t = t0 + np.arange(n) / self.sample_rate
        out = np.zeros(n)
        for i, sound in enumerate(self.sounds):
            distance = math.hypot(sound.x - x, sound.y - y)
            local = t - sound.at - distance / SPEED_OF_SOUND
            if local[-1] < 0 or (sound.kind in DURATION_S and local[0] > DURATION_S[sound.kind]):
                continue
            # Seeded per source and chunk position: the same scenario always sounds the same.
            rng = np.random.default_rng([self.seed, i, int(round(t0 * self.sample_rate))])
            signal = synthesize(sound.kind, local, rng)
            out += np.where(local >= 0, signal, 0.0) * gain_at(sound.level_db, distance)
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    """Little-endian signed 16-bit PCM of float samples in -1..1."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (a full-scale sine is -3 dBFS); -inf for silence."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20 * math.log10(rms) if rms > 0 else -math.inf
