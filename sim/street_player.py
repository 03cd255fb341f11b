"""Plays the street mix (sim.street_audio) into the street virtual sink, paced to sim time, so
the microphone node records the scenario's shouts and glass as the dog hears them.

`SimAudioClock` (pure) decides which chunk of sim time is due; `StreetPlayer` (a thread) asks
the world where the dog is, renders that chunk and writes it through robot_dog.audio.stream's
PcmOutput (the blocking write paces the thread to the wall clock). A simulator faster than real
time outruns the sound card: audio more than `max_lag_s` behind skips ahead rather than drift.
A device that is missing or fails turns the player off with one log line; the world runs on.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sim.street_audio import StreetMix

_LOGGER = logging.getLogger(__name__)


@dataclass
class SimAudioClock:
    """Which chunk of sim time (s) to play next, given how far the simulation has got."""

    chunk_s: float
    max_lag_s: float = 0.5      # s of sim time audio may fall behind before it skips ahead
    next_t: float = 0.0         # sim time of the next chunk's first sample
    skipped_s: float = 0.0      # sim time skipped so far (faster than real time, or a late start)

    def due(self, sim_time: float) -> float | None:
        """Start (sim s) of the chunk to play now, or None while sim time has not covered it."""
        if sim_time < self.next_t + self.chunk_s:
            return None
        if sim_time - self.next_t > self.max_lag_s:
            jump = sim_time - self.chunk_s - self.next_t
            self.skipped_s += jump
            self.next_t += jump
        start = self.next_t
        self.next_t += self.chunk_s
        return start


class StreetPlayer:
    """A thread: `listener()` -> (sim s, x m, y m) of the dog; writes to `device` until stop()."""

    def __init__(self, mix: StreetMix, listener: Callable[[], tuple[float, float, float]],
                 device: str, chunk_samples: int, latency_ms: int = 100,
                 log_error: Callable[[str], None] = _LOGGER.error) -> None:
        self.mix, self.listener, self.device, self.log_error = mix, listener, device, log_error
        self.chunk_samples, self.latency_ms = chunk_samples, latency_ms
        self.clock = SimAudioClock(chunk_samples / mix.sample_rate)
        self.chunks = 0
        self.error = ""               # why the player stopped early ('' while fine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-street-audio", daemon=True)

    def start(self) -> "StreetPlayer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from robot_dog.audio.devices import AudioDeviceError
        from robot_dog.audio.pcm import to_int16
        try:
            from robot_dog.audio.stream import PcmOutput
            out = PcmOutput(self.device, latency_ms=self.latency_ms)
        except (AudioDeviceError, ImportError) as exc:
            self.error = f"street audio off: {exc}"
            self.log_error(self.error)
            return
        try:
            while not self._stop.is_set():
                sim_time, x, y = self.listener()
                start = self.clock.due(sim_time)
                if start is None:
                    self._stop.wait(0.005)   # sim time has not reached the next chunk's end
                    continue
                out.write(to_int16(self.mix.render(start, self.chunk_samples, x, y)))
                self.chunks += 1
        except AudioDeviceError as exc:
            self.error = f"street audio off: {exc}"
            self.log_error(self.error)
        finally:
            out.close()
