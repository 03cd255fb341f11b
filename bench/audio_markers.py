"""Latency markers for the audio benchmarks (bench megaphone, bench talk): 20 ms voice frames at
50 Hz, every 0.4 s one opening with a 1 kHz burst; the bursts' onsets are recorded from the
speaker's monitor and paired with the times their frames were handed over."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from robot_dog.audio import devices

MARKERS = 30
_FRAME_S = 0.02
_EVERY = 20                  # frames between markers: 0.4 s
_LOUD = 3000                 # |sample| above this is the burst, not the silence between

T = TypeVar("T")


def _frames() -> tuple[np.ndarray, np.ndarray]:
    """(silence, burst): 960 samples (20 ms at 48 kHz), the burst's first half a 1 kHz tone."""
    silence = np.zeros(960, np.int16)
    burst = silence.copy()
    burst[:480] = (0.5 * 32767 * np.sin(2 * np.pi * 1000 * np.arange(480) / 48000)).astype(np.int16)
    return silence, burst


class OnsetRecorder:
    """Records the speaker's monitor in a thread: the capture time of each burst's first loud
    sample (read time minus the samples after it). Re-arms only after a quiet frame, so a burst
    split over two reads counts once."""

    def __init__(self) -> None:
        from robot_dog.audio.stream import PcmInput
        self.mic = PcmInput(devices.SPEAKER_MONITOR)
        self.onsets: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def _record(self) -> None:
        armed = True
        while not self._stop.is_set():
            frame = self.mic.read()
            read_at = time.monotonic()
            loud = np.flatnonzero(np.abs(frame) > _LOUD)
            if loud.size and armed:
                self.onsets.append(read_at - (len(frame) - loud[0]) / devices.RATE_HZ)
                armed = False
            elif not loud.size:
                armed = True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.mic.close()


def send_markers(prepare: Callable[[int, np.ndarray], T], send: Callable[[T], None],
                 markers: int = MARKERS) -> list[float]:
    """Sends frames on the 20 ms grid: `prepare(seq, samples)` builds one, `send` hands it over;
    a marker's time is taken between the two, so only the handing over counts in its latency.
    Returns the markers' times (monotonic)."""
    silence, burst = _frames()
    sent: list[float] = []
    start = time.monotonic()
    for seq in range(markers * _EVERY + 25):
        time.sleep(max(0.0, start + seq * _FRAME_S - time.monotonic()))
        marker = seq % _EVERY == 5 and len(sent) < markers
        frame = prepare(seq, burst if marker else silence)
        if marker:
            sent.append(time.monotonic())
        send(frame)
    return sent


def latencies_ms(sent: list[float], onsets: list[float]) -> list[float]:
    """Each marker paired with the next onset within 1 s (one up to 5 ms early still counts); printed."""
    latencies = []
    for t_sent in sent:
        later = [o for o in onsets if o >= t_sent - 0.005]
        if later and later[0] - t_sent < 1.0:
            latencies.append((later[0] - t_sent) * 1000)
    print("   latencies ms:", " ".join(f"{v:.0f}" for v in latencies), flush=True)
    return latencies
