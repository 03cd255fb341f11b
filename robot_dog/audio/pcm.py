"""PCM conversions at the edges: everything inside is mono int16 (or float32 -1..1) at 48 kHz.

Resampling uses scipy.signal.resample_poly (a kept polyphase FIR, not hand-written DSP).
"""
from __future__ import annotations

from math import gcd

import numpy as np

from robot_dog.audio.devices import RATE_HZ

FRAME_S = 0.02                          # one mixer frame: 20 ms
FRAME_SAMPLES = int(RATE_HZ * FRAME_S)  # 960


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in -1..1."""
    return np.asarray(samples, dtype=np.int16).astype(np.float32) / 32768.0


def to_int16(signal: np.ndarray) -> np.ndarray:
    """float -1..1 -> int16 (clipped; the limiter should have kept it below full scale)."""
    return np.clip(np.round(np.asarray(signal) * 32768.0), -32768, 32767).astype(np.int16)


def to_internal(samples: np.ndarray, rate_hz: int, channels: int = 1) -> np.ndarray:
    """Interleaved int16 at any rate/channel count -> mono float32 at RATE_HZ."""
    if rate_hz <= 0 or channels <= 0:
        raise ValueError(f"bad format: {rate_hz} Hz, {channels} channel(s)")
    data = np.asarray(samples, dtype=np.int16)
    if data.size % channels:
        raise ValueError(f"{data.size} samples are not a whole number of {channels}-channel frames")
    mono = to_float(data).reshape(-1, channels).mean(axis=1)
    return resample(mono, rate_hz, RATE_HZ)


def resample(signal: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Float signal from one rate to another (polyphase)."""
    if from_hz == to_hz or signal.size == 0:
        return np.asarray(signal, dtype=np.float32)
    # Imported on first use: scipy.signal costs 1.1 s of CPU to import (measured), paid at
    # start-up by every node that imports this module (the uplink, the megaphone) otherwise.
    from scipy.signal import resample_poly
    g = gcd(from_hz, to_hz)
    resampled: np.ndarray = resample_poly(signal, to_hz // g, from_hz // g).astype(np.float32)
    return resampled


def dbfs(signal: np.ndarray) -> float:
    """RMS level in dBFS of a float signal (full-scale sine = -3 dBFS); -120 for silence."""
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))) if signal.size else 0.0
    return 20 * np.log10(rms) if rms > 1e-6 else -120.0


def peak_dbfs(signal: np.ndarray) -> float:
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    return 20 * np.log10(peak) if peak > 1e-6 else -120.0
