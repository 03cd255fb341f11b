"""Synthetic bodycam source: a moving test scene with the GA/T 947 style burned-in overlay.

Pure numpy/OpenCV, no ROS: the node and the simulator both call `render()`. The overlay burns
in what a law-enforcement recorder must show on every frame: wall-clock time, device ID,
officer ID and position, so a frame stays attributable after it leaves the system.

The officer is the one paired with the handheld (teleop_node's `teleop/officer`), and a name may
be in any script (王警官): OpenCV's own fonts draw ASCII only, so a line with other characters
is drawn with Pillow in a CJK TrueType font (WenQuanYi Micro Hei, Debian fonts-wqy-microhei,
installed by dev.sh), at the same place and height.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

_LOGGER = logging.getLogger(__name__)
#: TrueType fonts with CJK glyphs, the first one present is used.
CJK_FONTS = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
             Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
             Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"))


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
    scale, line_h, y = _layout(h)
    # A dimmed band under the text keeps it legible on any scene, as recorders do. By a lookup
    # table: numpy's `band * 0.35` went through a float64 copy of the band on every frame.
    band = frame[0:line_h * len(lines) + 8, :]
    band[:] = cv2.LUT(band, _DIM)
    for text in lines:
        if text.isascii() or not _draw_unicode(frame, text, (10, y), scale):
            cv2.putText(frame, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
        y += line_h


#: Each 8-bit value under the overlay's band, dimmed to 35 % (rounded down).
_DIM = (np.arange(256) * 0.35).astype(np.uint8)

#: The overlay's lines, top down: 0 time, 1 device and officer, 2 position.
OFFICER_LINE = 1


def _layout(height: int) -> tuple[float, int, int]:
    """(font scale, line height px, first baseline px) of the overlay on a frame `height` high."""
    scale = max(0.4, height / 960)
    return scale, int(30 * scale * 1.6), int(28 * scale * 1.6)


def line_rows(height: int, line: int) -> slice:
    """The rows of the frame that overlay line `line` is drawn in and no other line touches (to
    read a burned-in field back from the pixels)."""
    _scale, line_h, first = _layout(height)
    baseline = first + line * line_h
    return slice(max(0, baseline - line_h + 3), baseline + 3)


def _draw_unicode(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> bool:
    """Draw `text` (left end of its baseline at `origin`) in white with a CJK TrueType font of
    the Hershey font's size at `scale`; False when no such font is here (the caller draws what
    OpenCV can, non-ASCII as '?')."""
    font = _font(max(8, round(30 * scale)))   # Hershey simplex: ~22 px capitals at scale 1
    if font is None:
        return False
    from PIL import Image, ImageDraw
    x, y = origin
    top = max(0, y - font.size)
    bottom = min(frame.shape[0], y + font.size // 3)
    if bottom <= top:
        return True
    region = frame[top:bottom]
    image = Image.fromarray(region[:, :, ::-1])             # BGR -> RGB
    ImageDraw.Draw(image).text((x, y - top), text, font=font, fill=(255, 255, 255), anchor="ls")
    region[:] = np.asarray(image)[:, :, ::-1]
    return True


@functools.lru_cache(maxsize=8)
def _font(size: int):  # -> PIL.ImageFont.FreeTypeFont | None
    from PIL import ImageFont
    for path in CJK_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    _LOGGER.warning("no CJK font (%s): non-ASCII overlay text is drawn as '?'",
                    ", ".join(str(p) for p in CJK_FONTS))
    return None


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
