"""Clip library: listing, any PCM WAV converted to 48 kHz mono, unknown or bad clips refused."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from robot_dog.audio.clips import ClipLibrary
from robot_dog.audio.devices import RATE_HZ
from robot_dog.payload.errors import RequestRefused


def write_wav(path: Path, rate: int, channels: int, seconds: float) -> None:
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(tone, channels).tobytes())


def test_lists_and_loads_any_rate_and_channels(tmp_path: Path) -> None:
    write_wav(tmp_path / "chime.wav", 22050, 2, 0.5)
    write_wav(tmp_path / "stop_now.wav", 48000, 1, 1.0)
    (tmp_path / "notes.txt").write_text("not a clip")
    library = ClipLibrary(tmp_path)
    assert library.names() == ["chime", "stop_now"]
    audio = library.load("chime")
    assert len(audio) == pytest.approx(RATE_HZ * 0.5, abs=2)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(len(audio), 1 / RATE_HZ)[spectrum.argmax()] == pytest.approx(440, abs=3)


@pytest.mark.parametrize("name", ["missing", "../etc/passwd", "", "chime.wav"])
def test_unknown_names_refused(tmp_path: Path, name: str) -> None:
    write_wav(tmp_path / "chime.wav", 48000, 1, 0.1)
    with pytest.raises(RequestRefused, match="unknown clip"):
        ClipLibrary(tmp_path).load(name)


def test_corrupt_wav_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(RequestRefused, match="not a readable PCM WAV"):
        ClipLibrary(tmp_path).load("broken")


def test_no_directory_means_no_clips() -> None:
    assert ClipLibrary(None).names() == [] and ClipLibrary("/nonexistent").names() == []
