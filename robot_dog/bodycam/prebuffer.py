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
        self.bytes = 0

    def push(self, packet: EncodedPacket) -> None:
        if self.seconds == 0.0:
            return
        if not self._packets and not (packet.kind == "video" and packet.key):
            return   # wait for a keyframe: nothing before it could be decoded
        self._packets.append(packet)
        self.bytes += len(packet.data)
        if packet.kind == "video":
            self._evict(packet.t - self.seconds)

    def _evict(self, keep_from: float) -> None:
        while True:
            second_key = next((i for i, p in enumerate(self._packets)
                               if i > 0 and p.kind == "video" and p.key), None)
            if second_key is None or self._packets[second_key].t > keep_from:
                return
            for _ in range(second_key):
                self.bytes -= len(self._packets.popleft().data)

    def drain(self) -> list[EncodedPacket]:
        """Everything buffered, oldest first (starting at a keyframe), and empty the buffer."""
        out = list(self._packets)
        self._packets.clear()
        self.bytes = 0
        return out

    @property
    def span_s(self) -> float:
        videos = [p.t for p in self._packets if p.kind == "video"]
        return videos[-1] - videos[0] if videos else 0.0
