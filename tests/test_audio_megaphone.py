"""Megaphone core: sources in priority order through one mixer; amplifier plan on a fake clock."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio.announcements import State
from robot_dog.audio.megaphone import AmplifierPlan, Megaphone, SAFETY_PRIORITY
from robot_dog.audio.mixer import db_to_gain
from robot_dog.payload.errors import RequestRefused


def tone(freq: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(48000 * seconds)) / 48000
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def band_level(frame: np.ndarray, freq: float) -> float:
    return float(np.abs(np.fft.rfft(frame))[int(freq / 50)] / 480)


def test_silent_until_something_plays() -> None:
    mega = Megaphone()
    assert not mega.wants_sound(0.0) and mega.frame(0.0) is None


def test_siren_ducks_announcement_and_voice_ducks_siren() -> None:
    mega = Megaphone()
    mega.announce(tone(400, 2.0), volume=1.0)
    mega.siren.set("hilo", 5.0, now=0.0)
    for _ in range(3):
        frame = mega.frame(0.1)
    assert band_level(frame, 400) < 0.2 * max(band_level(frame, 950), band_level(frame, 750))
    mega.voice.push(1, tone(3000, 0.1))
    mega.frame(0.2)
    frame = mega.frame(0.2)
    assert band_level(frame, 3000) > 5 * band_level(frame, 950) + 5 * band_level(frame, 750)


def test_safety_channel_beats_live_voice() -> None:
    mega = Megaphone()
    for seq in range(5):
        mega.voice.push(seq, tone(3000, 0.02))
    _, item = mega.announce(tone(1000, 1.0), priority=SAFETY_PRIORITY, volume=1.0)
    assert mega.queue_for(SAFETY_PRIORITY).status(item).state is State.QUEUED
    for _ in range(3):
        frame = mega.frame(0.0)
    assert band_level(frame, 1000) > 5 * band_level(frame, 3000)


def test_output_never_above_minus_1_dbfs_even_with_everything_at_once() -> None:
    mega = Megaphone()
    mega.announce(tone(500, 1.0, 1.0), volume=1.0)
    mega.announce(tone(700, 1.0, 1.0), priority=255, volume=1.0)
    mega.siren.set("wail", 5.0, now=0.0)
    for seq in range(40):
        mega.voice.push(seq, tone(300, 0.02, 1.0))
    peaks = [np.max(np.abs(mega.frame(0.0))) for _ in range(40)]
    assert max(peaks) <= db_to_gain(-1.0) + 1e-6


def test_announcement_volume_checked() -> None:
    mega = Megaphone()
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(RequestRefused):
            mega.announce(tone(400, 1.0), volume=bad)


def test_silence_all_stops_sources_and_says_why() -> None:
    mega = Megaphone()
    queue, item = mega.announce(tone(400, 1.0))
    _, waiting = mega.announce(tone(400, 1.0))
    mega.siren.set("yelp", 5.0, now=0.0)
    mega.voice.push(1, tone(300, 0.1))
    mega.frame(0.0)
    mega.silence_all("amplifier refused: safe state")
    assert queue.status(item).state is State.CANCELLED
    assert queue.status(item).reason == "amplifier refused: safe state"
    assert queue.status(waiting).state is State.CANCELLED
    assert not mega.wants_sound(0.0)
    _, later = mega.announce(tone(400, 0.1))         # the queue keeps working
    assert mega.frame(0.0) is not None


def test_amplifier_on_before_sound_refreshed_and_off_after() -> None:
    plan = AmplifierPlan()
    assert plan.step(False, 0.0) is None
    assert plan.step(True, 1.0) == "enable"
    plan.enabled(1.0)
    assert plan.step(True, 2.0) is None
    assert plan.step(True, 3.0) == "enable"         # refresh before the MCU's lease lapses
    plan.enabled(3.0)
    assert plan.step(False, 3.5) is None             # a short pause keeps it on
    assert plan.step(False, 4.0) == "disable"
    plan.disabled()
    assert plan.step(False, 10.0) is None


def test_a_pause_in_live_voice_keeps_the_siren_ducked() -> None:
    mega = Megaphone()
    mega.siren.set("hilo", 5.0, now=0.0)
    mega.voice.push(1, tone(3000, 0.02))
    for _ in range(3):
        frame = mega.frame(0.0)                    # voice ran dry after the first frame
    assert mega.voice.active
    assert max(band_level(frame, 950), band_level(frame, 750)) < 0.1   # 0.5 ducked by 20 dB
