"""Loudness of announcements and the microphone (ITU-R BS.1770 through pyloudnorm).

Announcements are normalised to one integrated loudness, so a quiet clip and a loud TTS voice
come out of the megaphone equally loud; the gain is capped so peaks stay below full scale.
"""
from __future__ import annotations

import numpy as np
import pyloudnorm

from robot_dog.audio.devices import RATE_HZ

TARGET_LUFS = -16.0
_MIN_S = 0.4                         # BS.1770 gating blocks are 400 ms
_meter = pyloudnorm.Meter(RATE_HZ)   # K-weighting filters for 48 kHz, made once


def integrated_lufs(signal: np.ndarray) -> float:
    """Integrated loudness (LUFS); -inf for silence, peak-based estimate below 0.4 s."""
    if len(signal) < _MIN_S * RATE_HZ:
        padded = np.zeros(int(_MIN_S * RATE_HZ), dtype=np.float64)
        padded[: len(signal)] = signal
        signal = padded
    return float(_meter.integrated_loudness(np.asarray(signal, dtype=np.float64)))


def momentary_lufs(window: np.ndarray) -> float:
    """Loudness of one 400 ms window (BS.1770 momentary), ungated; -120 for silence."""
    weighted = _k_weighted(np.asarray(window, dtype=np.float64))
    power = float(np.mean(weighted ** 2))
    return -0.691 + 10 * np.log10(power) if power > 1e-12 else -120.0


def normalise(signal: np.ndarray, target_lufs: float = TARGET_LUFS, peak: float = 0.95) -> np.ndarray:
    """`signal` scaled to `target_lufs`, the gain capped so |peak| <= `peak`."""
    loudness = integrated_lufs(signal)
    top = float(np.max(np.abs(signal))) if signal.size else 0.0
    if not np.isfinite(loudness) or top == 0.0:
        return np.asarray(signal, dtype=np.float32)
    gain = min(10 ** ((target_lufs - loudness) / 20), peak / top)
    return (signal * gain).astype(np.float32)


def _k_weighted(x: np.ndarray) -> np.ndarray:
    """The BS.1770 K-weighting (pyloudnorm's two biquads, applied with scipy.signal.lfilter)."""
    from scipy.signal import lfilter
    for stage in _meter._filters.values():
        x = lfilter(stage.b, stage.a, x)
    return x
