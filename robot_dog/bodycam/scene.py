"""Synthetic bodycam source: a moving test scene with the GA/T 947 style burned-in overlay.

Pure numpy/OpenCV, no ROS: the node and the simulator both call `render()`. The overlay burns
in what a law-enforcement recorder must show on every frame: wall-clock time, device ID,
officer ID and position, so a frame stays attributable after it leaves the system.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Overlay:
    """What is burned into every frame."""

    device_id: str
    officer_id: str
    latitude: float = 36.6512   # deg, Jinan (Shandong) by default
    longitude: float = 117.1201


def burn_in(frame: np.ndarray, overlay: Overlay, stamp: float) -> None:
    """Draw time, device, officer and position onto `frame` (in place, BGR)."""
    h, _w = frame.shape[:2]
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
    lines = [clock, f"DEV {overlay.device_id}  OFC {overlay.officer_id}",
             f"{abs(overlay.latitude):.5f}{'N' if overlay.latitude >= 0 else 'S'} "
             f"{abs(overlay.longitude):.5f}{'E' if overlay.longitude >= 0 else 'W'}"]
    scale = max(0.4, h / 960)
    line_h = int(30 * scale * 1.6)
    # A dimmed band under the text keeps it legible on any scene, as recorders do.
    band = frame[0:line_h * len(lines) + 8, :]
    band[:] = (band * 0.35).astype(frame.dtype)
    y = int(28 * scale * 1.6)
    for text in lines:
        cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += line_h


class TestScene:
    """Colour bars with a moving disc: motion shows stalls, bars show colour swaps (BGR vs RGB)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        bars = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0),
                (255, 0, 255), (0, 0, 255), (255, 0, 0), (40, 40, 40)]
        self._background = np.zeros((height, width, 3), np.uint8)
        step = math.ceil(width / len(bars))
        for i, colour in enumerate(bars):
            self._background[:, i * step:(i + 1) * step] = colour

    def render(self, stamp: float, overlay: Overlay) -> np.ndarray:
        """The frame at time `stamp` (s since the epoch), BGR uint8."""
        frame = self.render_background(stamp)
        burn_in(frame, overlay, stamp)
        return frame

    def render_background(self, stamp: float) -> np.ndarray:
        """The scene at `stamp` without the overlay."""
        frame = self._background.copy()
        t = stamp % 4.0 / 4.0
        cx = int(self.width * (0.1 + 0.8 * t))
        cy = int(self.height * (0.55 + 0.25 * math.sin(2 * math.pi * t)))
        cv2.circle(frame, (cx, cy), max(8, self.height // 10), (30, 30, 220), -1, cv2.LINE_AA)
        return frame


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a BGR frame; quality 1..100."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
