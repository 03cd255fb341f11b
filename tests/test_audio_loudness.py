"""Loudness: BS.1770 figures for reference tones, normalisation to one loudness, peak cap."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import loudness
from robot_dog.audio.devices import RATE_HZ


def tone(level: float, seconds: float = 2.0, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(RATE_HZ * seconds)) / RATE_HZ
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_full_scale_1khz_sine_is_minus_3_lufs() -> None:
    # BS.1770: a 0 dBFS 1 kHz sine reads -3.01 LKFS (K-weighting is ~0 dB at 1 kHz).
    assert loudness.integrated_lufs(tone(1.0)) == pytest.approx(-3.0, abs=0.1)
    assert loudness.momentary_lufs(tone(1.0, 0.4)) == pytest.approx(-3.0, abs=0.2)
    assert loudness.momentary_lufs(np.zeros(19200)) == -120.0


def test_quiet_and_loud_announcements_come_out_equally_loud() -> None:
    quiet, loud = loudness.normalise(tone(0.01)), loudness.normalise(tone(0.3, freq=400))
    assert loudness.integrated_lufs(quiet) == pytest.approx(loudness.TARGET_LUFS, abs=0.2)
    assert loudness.integrated_lufs(loud) == pytest.approx(loudness.TARGET_LUFS, abs=0.2)


def test_gain_is_capped_by_the_peak() -> None:
    spiky = np.zeros(RATE_HZ, np.float32)
    spiky[::4800] = 0.5                      # almost silent but for clicks
    assert np.max(np.abs(loudness.normalise(spiky))) <= 0.95 + 1e-6


def test_silence_and_short_signals() -> None:
    assert np.all(loudness.normalise(np.zeros(1000, np.float32)) == 0)
    assert np.isfinite(loudness.integrated_lufs(tone(0.5, 0.1)))
