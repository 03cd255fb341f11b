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


def test_the_frames_own_pcm_gives_the_same_level() -> None:
    # The microphone hands the VAD the int16 bytes it read rather than the frame converted back.
    from robot_dog.audio.pcm import to_float
    speech = normalise(tts.synthesize("Please keep moving, thank you.", "en"), -23.0)
    pcm = np.clip(np.round(speech * 32768), -32768, 32767).astype(np.int16)
    from_float, from_pcm = LevelMeter(), LevelMeter()
    levels = [(from_float.update(to_float(s)), from_pcm.update(to_float(s), s.tobytes()))
              for s in frames(pcm)]
    assert all(a == b for a, b in levels)
    assert any(a.voice_active for a, _ in levels)
    with pytest.raises(ValueError, match="expected 1920"):
        LevelMeter().update(np.zeros(960, np.float32), b"\0" * 100)
