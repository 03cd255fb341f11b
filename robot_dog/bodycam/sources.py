"""Where bodycam frames come from, behind one call (`frame(stamp)` -> BGR or None):

- `test_scene`: the synthetic scene (colour bars, moving disc), always available;
- a V4L2 device (`/dev/video0`) or a video file, through OpenCV (files loop at their end);
- `topic:NAME`: the newest sensor_msgs/Image (bgr8 or rgb8) on a ROS topic, e.g. the simulator's
  `topic:camera/image_raw`; the node subscribes and feeds `TopicSource.put`.

A source with no fresh frame returns None and the node burns "NO SIGNAL" into a black frame, so
the recording shows the loss instead of freezing on the last picture.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import threading
import time
from typing import Protocol

import cv2
import numpy as np

from robot_dog.bodycam.scene import TestScene

TOPIC_PREFIX = "topic:"


class SourceError(RobotDogError, RuntimeError):
    """The source cannot be opened (missing device, unreadable file)."""


class FrameSource(Protocol):
    def frame(self, stamp: float) -> np.ndarray | None: ...
    def close(self) -> None: ...


class SceneSource:
    def __init__(self, width: int, height: int) -> None:
        self._scene = TestScene(width, height)

    def frame(self, stamp: float) -> np.ndarray | None:
        return self._scene.render_background(stamp)

    def close(self) -> None:
        pass


class OpenCvSource:
    """A V4L2 device or a video file; frames resized to the node's size."""

    def __init__(self, spec: str, width: int, height: int) -> None:
        target: int | str = int(spec) if spec.isdigit() else spec
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise SourceError(f"cannot open camera source {spec!r} (no such device or unreadable file)")
        self._is_file = isinstance(target, str) and not spec.startswith("/dev/")
        self.size = (width, height)

    def frame(self, stamp: float) -> np.ndarray | None:
        ok, image = self._capture.read()
        if not ok and self._is_file:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)   # loop the clip
            ok, image = self._capture.read()
        if not ok:
            return None
        return _fit(image, self.size)

    def close(self) -> None:
        self._capture.release()


class TopicSource:
    """The newest frame put by a subscription; stale after `stale_s` (camera loss)."""

    def __init__(self, width: int, height: int, stale_s: float = 1.0) -> None:
        self.size, self.stale_s = (width, height), stale_s
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._at = 0.0
        self.received = 0

    def put(self, image: np.ndarray, now: float | None = None) -> None:
        with self._lock:
            self._frame, self._at = image, time.monotonic() if now is None else now
            self.received += 1

    def frame(self, stamp: float, now: float | None = None) -> np.ndarray | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._frame is None or now - self._at > self.stale_s:
                return None
            return _fit(self._frame, self.size).copy()

    def close(self) -> None:
        pass


def image_from_msg(encoding: str, width: int, height: int, step: int, data: bytes) -> np.ndarray:
    """A BGR array from a sensor_msgs/Image's fields (bgr8 or rgb8); ValueError otherwise."""
    if encoding not in ("bgr8", "rgb8"):
        raise ValueError(f"unsupported image encoding {encoding!r} (bgr8 or rgb8)")
    if step < width * 3 or len(data) < step * height:
        raise ValueError(f"image data too short: {len(data)} bytes for {width}x{height}, step {step}")
    rows = np.frombuffer(data, np.uint8, count=step * height).reshape(height, step)
    image = rows[:, :width * 3].reshape(height, width, 3)
    return image[:, :, ::-1] if encoding == "rgb8" else image


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def open_source(spec: str, width: int, height: int) -> FrameSource:
    if spec == "test_scene":
        return SceneSource(width, height)
    if spec.startswith(TOPIC_PREFIX):
        return TopicSource(width, height)
    return OpenCvSource(spec, width, height)


def no_signal(width: int, height: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    cv2.putText(frame, "NO SIGNAL", (width // 2 - 110, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                1.2, (255, 255, 255), 2, cv2.LINE_AA)
    return frame
