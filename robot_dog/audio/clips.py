"""The clip library: WAV files in one directory, played by name (the file name without .wav).

Any PCM WAV (8/16/32-bit, any rate, mono or stereo) is accepted and converted to float32 mono
at RATE_HZ. Names are plain words: no path ever leaves the library's directory.
"""
from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np

from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import resample
from robot_dog.payload.errors import RequestRefused

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


class ClipLibrary:
    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory else None

    def names(self) -> list[str]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.wav") if _NAME.match(p.stem))

    def load(self, name: str) -> np.ndarray:
        """The clip as float32 mono at RATE_HZ; RequestRefused if unknown or unreadable."""
        if not _NAME.match(name) or name not in self.names():
            raise RequestRefused(f"unknown clip {name!r}; available: {', '.join(self.names()) or 'none'}")
        assert self.directory is not None
        path = self.directory / f"{name}.wav"
        try:
            with wave.open(str(path)) as wav:
                width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
                raw = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError, OSError) as exc:
            raise RequestRefused(f"clip {name!r} is not a readable PCM WAV: {exc}") from exc
        if width not in _DTYPES:
            raise RequestRefused(f"clip {name!r}: {8 * width}-bit samples not supported")
        data = np.frombuffer(raw, dtype=_DTYPES[width]).astype(np.float32)
        if width == 1:
            data = (data - 128) / 128
        else:
            data /= float(2 ** (8 * width - 1))
        mono = data[: len(data) // channels * channels].reshape(-1, channels).mean(axis=1)
        return resample(mono, rate, RATE_HZ)
