"""Fault injection on the virtual MCU's serial line: corrupt bytes, drop frames, delay, unplug.

`LineFaults` is the knob set (changed live from tests, the simulator or the control socket);
`FaultyLine` applies it to one direction of the byte stream, frame by frame (split at 0x00), with
a seeded RNG so a run is reproducible.
"""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class LineFaults:
    corrupt_rate: float = 0.0   # probability that a byte is replaced by a random byte
    drop_rate: float = 0.0      # probability that a whole frame vanishes
    delay_s: float = 0.0        # extra latency of MCU -> host frames, s

    def validate(self) -> None:
        for name in ("corrupt_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if not 0.0 <= self.delay_s <= 10.0:
            raise ValueError("delay_s must be within 0..10 s")


@dataclass
class LineCounters:
    frames: int = 0
    dropped: int = 0
    corrupted_bytes: int = 0


class FaultyLine:
    """One direction of the line. `feed(bytes)` returns the bytes that make it across."""

    def __init__(self, faults: LineFaults, seed: int | None = None) -> None:
        self.faults = faults
        self.counters = LineCounters()
        self._rng = random.Random(seed)
        self._partial = bytearray()

    def feed(self, data: bytes) -> bytes:
        f = self.faults
        if f.corrupt_rate == 0 and f.drop_rate == 0 and not self._partial:
            self.counters.frames += data.count(0)
            return data
        out = bytearray()
        self._partial += data
        while (end := self._partial.find(0)) != -1:
            frame = bytes(self._partial[:end + 1])
            del self._partial[:end + 1]
            self.counters.frames += 1
            if f.drop_rate and self._rng.random() < f.drop_rate:
                self.counters.dropped += 1
                continue
            out += self._corrupt(frame)
        return bytes(out)

    def _corrupt(self, frame: bytes) -> bytes:
        rate = self.faults.corrupt_rate
        if not rate:
            return frame
        buf = bytearray(frame)
        for i in range(len(buf)):
            if self._rng.random() < rate:
                buf[i] ^= self._rng.randrange(1, 256)  # always a different byte
                self.counters.corrupted_bytes += 1
        return bytes(buf)
