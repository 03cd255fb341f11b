"""Mixer: priority ducking, volume cap, limiter ceiling (-1 dBFS) on any input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_dog.audio.mixer import Limiter, Mixer, MixerConfig, Priority, db_to_gain

CEILING = db_to_gain(-1.0)


def tone(freq: float, level: float, n: int = 960) -> np.ndarray:
    return (level * np.sin(2 * np.pi * freq * np.arange(n) / 48000)).astype(np.float32)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 8.0), min_size=1, max_size=20))
def test_limiter_never_exceeds_the_ceiling(levels: list[float]) -> None:
    limiter = Limiter()
    for level in levels:
        out = limiter.process(tone(700, level) + np.float32(0.1 * level))
        assert np.max(np.abs(out)) <= CEILING + 1e-6


def test_limiter_leaves_quiet_audio_alone_and_recovers() -> None:
    limiter = Limiter()
    quiet = tone(500, 0.5)
    assert np.allclose(limiter.process(quiet), quiet)
    limiter.process(tone(500, 4.0))
    assert limiter.gain < 0.25
    for _ in range(10):                          # 200 ms > release 150 ms
        limiter.process(quiet)
    assert limiter.gain == 1.0


def test_higher_priority_ducks_lower_sources() -> None:
    mixer = Mixer(MixerConfig(duck_db=-20))
    siren, voice = tone(1000, 0.3), tone(200, 0.3)
    for _ in range(3):
        out = mixer.mix({Priority.SIREN: siren, Priority.HANDHELD_VOICE: voice}, 960, 1.0)
    spectrum = np.abs(np.fft.rfft(out))
    ratio = spectrum[20] / spectrum[4]           # 1000 Hz bin vs 200 Hz bin (50 Hz bins)
    assert ratio == pytest.approx(0.1, rel=0.05)
    for _ in range(2):                           # voice gone: siren back to full
        out = mixer.mix({Priority.SIREN: siren, Priority.HANDHELD_VOICE: None}, 960, 1.0)
    assert np.max(np.abs(out)) == pytest.approx(0.3, rel=0.01)


@pytest.mark.parametrize("top", list(Priority))
def test_only_the_top_priority_plays_at_full_level(top: Priority) -> None:
    mixer = Mixer()
    freqs = {p: 200.0 * (i + 1) for i, p in enumerate(Priority)}   # 200, 400, 600, 800 Hz
    frames = {p: tone(freqs[p], 0.2) if p <= top else None for p in Priority}
    for _ in range(3):
        out = mixer.mix(frames, 960, 1.0)
    spectrum = np.abs(np.fft.rfft(out)) / 480
    for p in Priority:
        level = spectrum[int(freqs[p] / 50)]
        if p == top:
            assert level == pytest.approx(0.2, rel=0.02)
        elif p < top:
            assert level == pytest.approx(0.02, rel=0.05)


def test_volume_is_capped() -> None:
    mixer = Mixer(MixerConfig(volume_cap=0.5))
    out = mixer.mix({Priority.ANNOUNCEMENT: tone(500, 0.8)}, 960, volume=1.0)
    assert np.max(np.abs(out)) == pytest.approx(0.4, rel=0.01)
    assert np.max(np.abs(mixer.mix({Priority.ANNOUNCEMENT: tone(500, 0.8)}, 960, 0.25))) == \
        pytest.approx(0.2, rel=0.01)
