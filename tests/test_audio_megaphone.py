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
    mega.voices["handheld"].push(1, tone(3000, 0.1))
    mega.frame(0.2)
    frame = mega.frame(0.2)
    assert band_level(frame, 3000) > 5 * band_level(frame, 950) + 5 * band_level(frame, 750)


def test_safety_channel_beats_live_voice() -> None:
    mega = Megaphone()
    for seq in range(5):
        mega.voices["handheld"].push(seq, tone(3000, 0.02))
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
        mega.voices["handheld"].push(seq, tone(300, 0.02, 1.0))
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
    mega.voices["handheld"].push(1, tone(300, 0.1))
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
    mega.voices["handheld"].push(1, tone(3000, 0.02))
    for _ in range(3):
        frame = mega.frame(0.0)                    # voice ran dry after the first frame
    assert mega.voices["handheld"].active
    assert max(band_level(frame, 950), band_level(frame, 750)) < 0.1   # 0.5 ducked by 20 dB


def test_officer_and_station_talking_at_once_both_play_and_the_officer_wins() -> None:
    """Two talkers with their own sequence numbers (both from 0): before, one jitter buffer took
    the second talker's chunks as duplicates or late and dropped them."""
    mega = Megaphone()
    for seq in range(10):
        assert mega.voices["handheld"].push(seq, tone(3000, 0.02))
        assert mega.voices["station"].push(seq, tone(700, 0.02))
    frames = [mega.frame(0.0) for _ in range(8)][2:]
    officer = np.mean([band_level(f, 3000) for f in frames])
    station = np.mean([band_level(f, 700) for f in frames])
    assert station > 0.01                                    # heard, not dropped
    assert 20 * np.log10(officer / station) == pytest.approx(20.0, abs=3.0)   # ducked 20 dB
    assert mega.voices["station"].stats.duplicate == mega.voices["station"].stats.late == 0


def test_the_station_plays_at_full_level_once_the_officer_stops() -> None:
    mega = Megaphone()
    mega.voices["handheld"].push(0, tone(3000, 0.02))
    frames = []
    for seq in range(40):                                # in real time: a chunk per frame
        mega.voices["station"].push(seq, tone(700, 0.02))
        frames.append(mega.frame(0.0))                   # the officer's hangover is 15 frames
    assert band_level(frames[-1], 700) > 5 * band_level(frames[1], 700)
    assert not mega.voices["handheld"].active and mega.voices["station"].active


def test_the_officer_is_over_the_station_and_each_voice_topic_has_one_publisher() -> None:
    """The table's publishers are the only code that names a voice topic (read from the source:
    a second publisher would bring back the shared buffer)."""
    from pathlib import Path

    from robot_dog.audio.mixer import Priority
    from robot_dog.audio.voices import HANDHELD, STATION, VOICE_SOURCES
    assert Priority[HANDHELD.priority] > Priority[STATION.priority] > Priority.SIREN
    root = Path(__file__).resolve().parents[1] / "robot_dog"
    files = {"teleop_node": root / "teleop" / "node.py", "uplink_node": root / "uplink" / "node.py"}
    for source in VOICE_SOURCES:
        names = f"voices.{source.name.upper()}.topic"
        users = [p for p in root.rglob("*.py") if names in p.read_text()]
        assert users == [files[source.publisher]]
    assert [p.name for p in root.rglob("*.py") if '"megaphone/voice' in p.read_text()] == \
        ["voices.py"]


@pytest.mark.parametrize("source", ["handheld", "station"])
def test_a_first_voice_chunk_wants_sound_until_its_hangover_is_over(source: str) -> None:
    # The amplifier goes on and the output loop wakes on the first chunk, although the buffer is
    # not `active` until its first pull (push-to-talk alone never played with the amplifier).
    mega = Megaphone()
    assert not mega.wants_sound(0.0)
    mega.voices[source].push(7, tone(3000, 0.02))
    assert mega.wants_sound(0.0)
    frames = [mega.frame(0.0) for _ in range(40)]
    assert frames[0] is not None and np.max(np.abs(frames[0])) > 0.1
    assert not mega.wants_sound(0.0) and frames[-1] is None   # the hangover (15 frames) is over
    mega.voices[source].push(9, tone(3000, 0.02))             # a new spurt waits to be pulled
    assert mega.voices[source].holds_sound and mega.wants_sound(0.0)


def test_an_announcement_or_a_siren_wants_sound() -> None:
    mega = Megaphone()
    mega.announce(tone(400, 0.1))
    assert mega.wants_sound(0.0)
    mega = Megaphone()
    mega.siren.set("wail", 1.0, now=0.0)
    assert mega.wants_sound(0.5) and not mega.wants_sound(1.5)
