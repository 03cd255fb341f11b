"""Live video relay: the newest frame per (dog, camera), and listeners told when one arrives.

The browser gets video from here through the station's web server (binary messages on the
page's WebSocket, or MJPEG for scripts), never through MQTT-over-WebSocket (Mosquitto is slow
with large WebSocket messages; docs/architecture.md, "Video path").
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from robot_dog.station.ingest import Frame


class FrameRelay:
    def __init__(self) -> None:
        self._frames: dict[tuple[str, str], Frame] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Frame], None]] = []

    def add_listener(self, callback: Callable[[Frame], None]) -> None:
        """`callback(frame)` after each new frame, on the publishing thread: it must not block
        (the web server's hands the frame to its loop)."""
        self._listeners.append(callback)

    def publish(self, frame: Frame) -> None:
        key = (frame.dog, frame.camera)
        with self._lock:
            self._frames[key] = frame
            self._seq[key] = self._seq.get(key, 0) + 1
        for callback in self._listeners:
            callback(frame)

    def latest(self, dog: str, camera: str) -> tuple[int, Frame | None]:
        key = (dog, camera)
        with self._lock:
            return self._seq.get(key, 0), self._frames.get(key)

    def cameras(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._frames)
