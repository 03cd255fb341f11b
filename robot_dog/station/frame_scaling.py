"""Video frames sized to the tile that shows them, with the JPEG decoder's own scales.

A 3x3 wall on a 1366 px station PC shows tiles about 440 px wide, a 9-dog wall at a remote
station pays for every byte, and a browser decodes each frame it is sent: a page says how wide
each of its tiles is (in device pixels) and gets the frame reduced by the largest of 1/2, 1/4,
1/8 that still fills the tile. Those are the factors libjpeg decodes at directly (a scaled
inverse DCT: the full-size picture is never made), so a reduction costs a partial decode and a
small encode, made once per frame and size for every page that asks (`ScaledFrames`); a tile
as wide as the frame, or wider, gets the dog's own bytes untouched.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

#: The reductions the decoder does natively (OpenCV's IMREAD_REDUCED_COLOR_2/4/8).
REDUCTIONS = (1, 2, 4, 8)
#: JPEG quality of a reduced frame (the dog's own frames are sent as they came).
QUALITY = 80
#: SOF markers (baseline, extended, progressive, lossless...): the frame's size follows them.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's frame header, without decoding; None if there is none."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:          # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:   # no length
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA or length < 2:        # scan data before any frame header
            return None
        i += 2 + length
    return None


def reduction_for(frame_width: int, tile_width: int) -> int:
    """The largest of REDUCTIONS whose picture is still at least `tile_width` wide (1 when the
    tile's width is unknown: 0)."""
    if tile_width <= 0:
        return 1
    return max(r for r in REDUCTIONS if r == 1 or frame_width / r >= tile_width)


def reduce(jpeg: bytes, factor: int) -> bytes | None:
    """`jpeg` decoded at 1/`factor` and encoded again; None if it does not decode."""
    import cv2
    import numpy as np

    flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
    if image is None:
        return None
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    return data.tobytes() if ok else None


@dataclass(frozen=True)
class Sized:
    jpeg: bytes
    factor: int        # 1: the dog's own bytes


class ScaledFrames:
    """The newest frame of each (dog, camera) at each reduction asked for, made once. Called from
    worker threads (a reduction takes a few ms: never on the web server's loop)."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str, int], tuple[int, Sized]] = {}
        self._lock = threading.Lock()

    def get(self, dog: str, camera: str, seq: int, jpeg: bytes, tile_width: int) -> Sized:
        size = jpeg_size(jpeg)
        factor = reduction_for(size[0], tile_width) if size else 1
        if factor == 1:
            return Sized(jpeg, 1)
        key = (dog, camera, factor)
        with self._lock:
            made = self._made.get(key)
        if made is not None and made[0] == seq:
            return made[1]
        reduced = reduce(jpeg, factor)
        sized = Sized(reduced, factor) if reduced is not None else Sized(jpeg, 1)
        with self._lock:
            self._made[key] = (seq, sized)
        return sized
