"""Pre-event ring buffer of compressed packets (never raw frames: 30 s of 720p raw is 2 GB).

It always starts at a video keyframe, since a segment can only begin with one, and holds at
least `seconds` before the newest frame: whole GOPs are dropped from the front once the next
keyframe is itself at least `seconds` old. So the buffer spans `seconds` to `seconds` plus one
GOP (1 s by default).
"""
from __future__ import annotations

from collections import deque

from robot_dog.bodycam.encoding import EncodedPacket

MAX_SECONDS = 120.0


class PreEventBuffer:
    def __init__(self, seconds: float) -> None:
        if not 0.0 <= seconds <= MAX_SECONDS:
            raise ValueError(f"pre-event time must be within 0..{MAX_SECONDS:.0f} s, not {seconds}")
        self.seconds = seconds
        self._packets: deque[EncodedPacket] = deque()
        self._key_times: deque[float] = deque()   # of the video keyframes held, oldest first
        self.bytes = 0

    def push(self, packet: EncodedPacket) -> None:
        if self.seconds == 0.0:
            return
        if not self._packets and not (packet.kind == "video" and packet.key):
            return   # wait for a keyframe: nothing before it could be decoded
        self._packets.append(packet)
        self.bytes += len(packet.data)
        if packet.kind == "video":
            if packet.key:
                self._key_times.append(packet.t)
            self._evict(packet.t - self.seconds)

    def _evict(self, keep_from: float) -> None:
        # Drop the oldest GOP while the one after it still covers `keep_from`.
        while len(self._key_times) >= 2 and self._key_times[1] <= keep_from:
            self._key_times.popleft()
            self._drop()                                  # the GOP's keyframe
            while not (self._packets[0].kind == "video" and self._packets[0].key):
                self._drop()                              # its other frames and audio

    def _drop(self) -> None:
        self.bytes -= len(self._packets.popleft().data)

    def drain(self) -> list[EncodedPacket]:
        """Everything buffered, oldest first (starting at a keyframe), and empty the buffer."""
        out = list(self._packets)
        self._packets.clear()
        self._key_times.clear()
        self.bytes = 0
        return out
