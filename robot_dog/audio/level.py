"""Microphone level (pure): dBFS, momentary loudness (ITU-R BS.1770, 400 ms) and voice activity.

Loudness uses the BS.1770 K-weighting from loudness.py; voice activity is
WebRTC's VAD (webrtcvad), smoothed: voiced while at least 3 of the last 5 frames (100 ms) are.
Frames are 20 ms of float32 mono at RATE_HZ.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

from robot_dog.audio import loudness
from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import FRAME_SAMPLES, dbfs, peak_dbfs, to_int16

MOMENTARY_FRAMES = int(0.4 * RATE_HZ) // FRAME_SAMPLES   # 20 frames = 400 ms


@dataclass(frozen=True)
class Level:
    rms_dbfs: float
    peak_dbfs: float
    lufs_momentary: float
    voice_active: bool


class LevelMeter:
    def __init__(self, vad_mode: int = 2) -> None:
        self._vad = webrtcvad.Vad(vad_mode)
        self._weighting = loudness.KWeighting()
        self._powers: deque[float] = deque(maxlen=MOMENTARY_FRAMES)  # K-weighted, per frame
        self._voiced: deque[bool] = deque(maxlen=5)

    def update(self, frame: np.ndarray, pcm: bytes | None = None) -> Level:
        """One 20 ms frame in; its level, the 400 ms loudness and voice activity.

        `pcm`: the int16 bytes the frame was made from, when the caller has them (the
        microphone does): the VAD reads those instead of converting the frame back."""
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"frame of {len(frame)} samples, expected {FRAME_SAMPLES}")
        weighted = self._weighting.process(frame)
        self._powers.append(float(np.dot(weighted, weighted)))
        if pcm is None:
            pcm = to_int16(frame).tobytes()
        elif len(pcm) != 2 * FRAME_SAMPLES:
            raise ValueError(f"pcm of {len(pcm)} bytes, expected {2 * FRAME_SAMPLES}")
        self._voiced.append(self._vad.is_speech(pcm, RATE_HZ))
        power = sum(self._powers) / (len(self._powers) * FRAME_SAMPLES)
        momentary = -0.691 + 10 * np.log10(power) if power > 1e-12 else -120.0
        return Level(dbfs(frame), peak_dbfs(frame), momentary, sum(self._voiced) >= 3)
