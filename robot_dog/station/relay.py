"""Live video relay: the newest frame per (dog, camera), and waiters woken when one arrives.

The browser gets video from here over HTTP (MJPEG), never through MQTT-over-WebSocket
(Mosquitto is slow with large WebSocket messages; docs/architecture.md, "Video path").
"""
from __future__ import annotations

import threading

from robot_dog.station.ingest import Frame


class FrameRelay:
    def __init__(self) -> None:
        self._frames: dict[tuple[str, str], Frame] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._changed = threading.Condition()

    def publish(self, frame: Frame) -> None:
        key = (frame.dog, frame.camera)
        with self._changed:
            self._frames[key] = frame
            self._seq[key] = self._seq.get(key, 0) + 1
            self._changed.notify_all()

    def latest(self, dog: str, camera: str) -> tuple[int, Frame | None]:
        key = (dog, camera)
        with self._changed:
            return self._seq.get(key, 0), self._frames.get(key)

    def wait_newer(self, dog: str, camera: str, seq: int, timeout_s: float) -> tuple[int, Frame | None]:
        """Block until a frame newer than `seq` arrives (or timeout); newest wins, none queued."""
        key = (dog, camera)
        with self._changed:
            self._changed.wait_for(lambda: self._seq.get(key, 0) > seq, timeout_s)
            return self._seq.get(key, 0), self._frames.get(key)

    def cameras(self) -> list[tuple[str, str]]:
        with self._changed:
            return sorted(self._frames)
