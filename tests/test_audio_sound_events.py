"""Sound events on synthesised signals: detections where expected, silence where not
(quiet street, speech, music, the dog's own siren while gated)."""
from __future__ import annotations

import pytest

import numpy as np
from scipy.signal import butter, sosfilt

from robot_dog.audio import loudness, tts
from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.level import LevelMeter
from robot_dog.audio.loudness import normalise
from robot_dog.audio.siren import Siren
from robot_dog.audio.sound_events import SoundEventDetector

RNG = np.random.default_rng(7)


def street(seconds: float, level: float = 0.003) -> np.ndarray:
    """Background: quiet pink-ish noise (about -55 dBFS)."""
    noise = RNG.normal(0, level, int(seconds * RATE_HZ))
    return sosfilt(butter(1, 1000, fs=RATE_HZ, output="sos"), noise).astype(np.float32) * 3


def at(background: np.ndarray, start_s: float, sound: np.ndarray) -> np.ndarray:
    out = background.copy()
    i = int(start_s * RATE_HZ)
    out[i:i + len(sound)] += sound[: len(out) - i]
    return out


def bang(level: float = 0.8) -> np.ndarray:
    t = np.arange(int(0.5 * RATE_HZ)) / RATE_HZ
    burst = RNG.normal(0, 1, t.size) * np.exp(-t / 0.03)
    low = sosfilt(butter(2, 1500, fs=RATE_HZ, output="sos"), burst)
    return (level * low / np.max(np.abs(low))).astype(np.float32)


def glass(level: float = 0.7) -> np.ndarray:
    t = np.arange(int(0.6 * RATE_HZ)) / RATE_HZ
    crash = sosfilt(butter(4, 4000, "highpass", fs=RATE_HZ, output="sos"),
                    RNG.normal(0, 1, t.size)) * np.exp(-t / 0.05)
    ring = sum(np.sin(2 * np.pi * f * t) * np.exp(-t / 0.15) for f in (4300, 5900, 7700, 9100))
    sig = crash / np.max(np.abs(crash)) + 0.3 * ring / 4
    return (level * sig / np.max(np.abs(sig))).astype(np.float32)


def shout(level_dbfs: float = -10.0, seconds: float = 1.0) -> np.ndarray:
    """A vowel-like harmonic voice at 280 Hz with vibrato, formant-shaped (synthetic shout)."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    f0 = 280 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE_HZ
    voice = sum(np.sin(k * phase) / k * (2.0 if 600 < 280 * k < 1200 else 1.0) for k in range(1, 15))
    env = np.minimum(1, t / 0.05) * np.minimum(1, (seconds - t) / 0.05)
    voice = voice * env
    return (voice / np.sqrt(np.mean(voice ** 2)) * 10 ** (level_dbfs / 20)).astype(np.float32)


def music(seconds: float = 4.0, lufs: float = -28.0) -> np.ndarray:
    """Chords with soft attacks (piano-like envelopes), moderate level."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    out = np.zeros_like(t)
    for i, chord in enumerate(([262, 330, 392], [220, 277, 330], [175, 220, 262], [196, 247, 294])):
        start = i * seconds / 4
        local = np.clip(t - start, 0, None)
        env = np.where(t >= start, np.minimum(1, local / 0.08) * np.exp(-local / 0.8), 0)
        out += env * sum(np.sin(2 * np.pi * f * t) for f in chord)
    return normalise(out.astype(np.float32), lufs)


def detect(signal: np.ndarray, gated: list[tuple[float, float]] = ()) -> list[tuple[float, str, float]]:
    meter, detector = LevelMeter(), SoundEventDetector()
    events = []
    for i in range(len(signal) // 960):
        now = i * 0.02
        detector.set_gated(any(a <= now < b for a, b in gated))
        frame = signal[i * 960:(i + 1) * 960]
        event = detector.update(frame, meter.update(frame))
        if event:
            events.append((round(now, 2), event.kind, event.confidence))
    return events


def test_quiet_street_is_silent() -> None:
    assert detect(street(5)) == []


def test_bang_detected_once() -> None:
    events = detect(at(street(4), 2.0, bang()))
    assert [kind for _, kind, _ in events] == ["bang"]
    assert 2.0 <= events[0][0] <= 2.3 and events[0][2] > 0.5


def test_glass_break_detected_once() -> None:
    events = detect(at(street(4), 1.5, glass()))
    assert [kind for _, kind, _ in events] == ["glass_break"]


def test_shout_detected() -> None:
    events = detect(at(street(4), 1.0, shout()))
    assert [kind for _, kind, _ in events] == ["shout"]
    assert 1.2 <= events[0][0] <= 1.6


def test_long_loud_noise_is_loud() -> None:
    rumble = sosfilt(butter(2, 800, fs=RATE_HZ, output="sos"), RNG.normal(0, 1, 3 * RATE_HZ))
    engine = np.clip(0.35 * rumble / np.std(rumble), -1, 1)       # about -9 dBFS RMS
    assert loudness.integrated_lufs(engine) > -13
    ramp = np.minimum(1, np.arange(engine.size) / (0.5 * RATE_HZ))   # an engine revving up
    events = detect(at(street(5), 1.0, (engine * ramp).astype(np.float32)))
    assert [kind for _, kind, _ in events] == ["loud"]


@pytest.mark.slow
def test_normal_speech_is_not_an_event() -> None:
    speech = normalise(tts.synthesize("Excuse me, could you tell me the way to the station, please? "
                                      "Thank you very much, have a nice day.", "en"), -30.0)
    assert detect(at(street(len(speech) / RATE_HZ + 2), 1.0, speech)) == []


def test_music_is_not_an_event() -> None:
    assert detect(at(street(6), 1.0, music())) == []


def test_the_dogs_own_siren_is_gated() -> None:
    siren = Siren()
    siren.set("yelp", 3.0, now=0.0)
    sound = np.concatenate([siren.render(960, 0.0) for _ in range(150)])
    signal = at(street(6), 1.0, sound)
    assert detect(signal) != []                      # without the gate it would fire
    assert detect(signal, gated=[(1.0, 4.0)]) == []  # the megaphone said it was playing


def test_a_bang_after_the_gate_still_fires() -> None:
    signal = at(street(6), 4.0, bang())
    assert [k for _, k, _ in detect(signal, gated=[(1.0, 3.0)])] == ["bang"]


def test_rise_is_the_jump_of_each_1_ms_peak_over_the_10_ms_before_it() -> None:
    from robot_dog.audio.sound_events import _rise_db
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = (rng.normal(0, 1, 1440) * np.repeat(rng.uniform(0, 1, 30) ** 4, 48)).astype(np.float32)
        db = 20 * np.log10(np.abs(x).reshape(-1, 48).max(axis=1) + 1e-9)
        expected = max(db[i] - db[i - 10:i].max() for i in range(10, 30))
        assert _rise_db(x) == pytest.approx(expected, abs=1e-9)
    assert _rise_db(np.zeros(400, np.float32)) == 0.0            # shorter than 11 blocks
