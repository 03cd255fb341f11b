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


# --- held to the references it replaces (pyloudnorm, scipy.signal: test-only dependencies) ---

def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise bursts and pauses under a swept tone: gating and both filters have work to do."""
    rng = np.random.default_rng(seed)
    n = int(RATE_HZ * seconds)
    t = np.arange(n) / RATE_HZ
    envelope = np.repeat(rng.uniform(0.0, 1.0, n // 4800 + 1) > 0.3, 4800)[:n]
    signal = 0.2 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * (60 + 2000 * t / seconds) * t)
    return (signal * envelope * rng.uniform(0.05, 1.0)).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_k_weighting_matches_scipy_lfilter(seed: int) -> None:
    from scipy.signal import lfilter
    x = _speechlike(3.1, seed).astype(np.float64)
    expected = x
    for b, a in loudness.K_WEIGHTING_48K:
        expected = lfilter(b, a, expected)
    assert np.max(np.abs(loudness.k_weighted(x) - expected)) < 1e-9


@pytest.mark.parametrize("seconds, seed", [(0.4, 0), (1.0, 1), (2.35, 2), (10.0, 3), (31.7, 4)])
def test_integrated_loudness_matches_pyloudnorm(seconds: float, seed: int) -> None:
    import pyloudnorm
    x = _speechlike(seconds, seed)
    reference = pyloudnorm.Meter(RATE_HZ).integrated_loudness(x.astype(np.float64))
    # 0.04 LU apart, measured: pyloudnorm derives its filters from analog prototypes (shelf
    # +4 dB at 1.5 kHz, high-pass 38 Hz), 4e-5 off the standard's table that we use
    assert loudness.integrated_lufs(x) == pytest.approx(reference, abs=0.05)


@pytest.mark.slow  # a fresh interpreter: a process
def test_no_scipy_or_pyloudnorm_at_run_time() -> None:
    import subprocess
    import sys
    code = ("import sys; import robot_dog.audio.loudness, robot_dog.audio.level, "
            "robot_dog.audio.pcm, robot_dog.audio.tts, robot_dog.audio.megaphone; "
            "print(sorted(m for m in ('scipy', 'pyloudnorm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stream_weighted_frame_by_frame_equals_the_whole() -> None:
    x = _speechlike(2.0, 7).astype(np.float64)[: 48000 * 2 - 333]     # frames that do not divide
    stream = loudness.KWeighting()
    parts = [stream.process(x[i:i + 960]) for i in range(0, len(x), 960)]
    assert np.max(np.abs(np.concatenate(parts) - loudness.k_weighted(x))) < 1e-9


def test_a_stream_of_mixed_frame_lengths_equals_scipy_lfilter() -> None:
    # 960-sample frames take the one-system path, odd lengths the stage-by-stage one: the
    # filters' state passes between them unchanged.
    from scipy.signal import lfilter
    x = _speechlike(2.0, 11).astype(np.float64)
    expected = x
    for b, a in loudness.K_WEIGHTING_48K:
        expected = lfilter(b, a, expected)
    stream, parts, start = loudness.KWeighting(), [], 0
    for n in [960, 960, 333, 960, 1920, 7, 960, 480, 960] * 12:
        parts.append(stream.process(x[start:start + n]))
        start += n
    got = np.concatenate(parts)
    assert start > RATE_HZ and np.max(np.abs(got - expected[:start])) < 1e-9
