"""PCM conversions at the edges: everything inside is mono int16 (or float32 -1..1) at 48 kHz.

Resampling uses libsoxr (python-soxr, "HQ": a kept resampler, not hand-written DSP). It was
scipy.signal.resample_poly: scipy cost each audio node 67-69 MB PSS and 1.1 s of CPU to import
(measured: `./dev.sh bench audio_memory`) for this one call. tests/test_audio_pcm.py holds soxr
to resample_poly's length, accuracy and rejection (measured: 74-141 dB SNR on tones where
resample_poly gives 50-85 dB; half its CPU).
"""
from __future__ import annotations

import array
import math

import numpy as np
import soxr

# The frame is defined beside the rate (devices.py imports no numpy: the station's talk relay
# and the Opus envelope need them without it); named here too for the audio nodes.
from robot_dog.audio.devices import FRAME_S as FRAME_S, FRAME_SAMPLES as FRAME_SAMPLES, RATE_HZ


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in -1..1."""
    return np.asarray(samples, dtype=np.int16).astype(np.float32) / 32768.0


def samples_field(samples: np.ndarray) -> array.array[int]:
    """int16 samples as the `array('h')` an AudioChunk's `samples` field holds, copied as bytes.

    Handing the message a numpy array makes rclpy build the array one numpy scalar at a time:
    measured 1.4-5.5 ms for one 20 ms chunk of 960 samples (7-27 % of a core for the
    microphone's 50 chunks a second, load-dependent), against under 0.1 ms this way."""
    return array.array("h", np.ascontiguousarray(samples, dtype=np.int16).tobytes())  # native order


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
    """Float signal from one rate to another (one-shot: delay compensated, edges flushed)."""
    if from_hz == to_hz or signal.size == 0:
        return np.asarray(signal, dtype=np.float32)
    resampled: np.ndarray = soxr.resample(np.asarray(signal, dtype=np.float32), from_hz, to_hz,
                                          quality="HQ")
    return resampled


def dbfs(signal: np.ndarray) -> float:
    """RMS level in dBFS of a float signal (full-scale sine = -3 dBFS); -120 for silence."""
    # np.mean's sum and division without its Python wrapper (the same value, bit for bit):
    # the microphone's level reads 50 frames a second
    square = np.square(signal, dtype=np.float64)
    rms = math.sqrt(float(np.add.reduce(square)) / square.size) if signal.size else 0.0
    return 20 * np.log10(rms) if rms > 1e-6 else -120.0


def peak_dbfs(signal: np.ndarray) -> float:
    peak = float(np.abs(signal).max()) if signal.size else 0.0
    return 20 * np.log10(peak) if peak > 1e-6 else -120.0
