"""Level meter: dBFS, BS.1770 momentary loudness, voice activity (WebRTC VAD)."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import tts
from robot_dog.audio.level import LevelMeter
from robot_dog.audio.loudness import normalise


def frames(signal: np.ndarray):
    return signal[: len(signal) // 960 * 960].reshape(-1, 960)


def test_sine_levels() -> None:
    meter = LevelMeter()
    sine = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)).astype(np.float32)
    for frame in frames(sine):
        level = meter.update(frame)
    assert level.rms_dbfs == pytest.approx(-9.03, abs=0.05)       # 0.5 amplitude: -6 - 3 dB
    assert level.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert level.lufs_momentary == pytest.approx(-9.03, abs=0.2)   # K-weighting ~0 dB at 1 kHz


@pytest.mark.slow
def test_voice_activity_on_speech_not_on_silence_or_hum() -> None:
    speech = normalise(tts.synthesize("Please keep moving, thank you.", "en"), -23.0)
    meter = LevelMeter()
    voiced = [meter.update(f).voice_active for f in frames(speech)]
    assert np.mean(voiced) > 0.4
    meter = LevelMeter()
    quiet = np.random.default_rng(1).normal(0, 0.0005, 48000).astype(np.float32)
    assert not any(meter.update(f).voice_active for f in frames(quiet))


def test_wrong_frame_size_refused() -> None:
    with pytest.raises(ValueError, match="expected 960"):
        LevelMeter().update(np.zeros(100, np.float32))
