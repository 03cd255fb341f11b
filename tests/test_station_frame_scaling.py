"""Frames sized to their tiles (station/frame_scaling.py): the JPEG's size read from its header
(baseline and progressive, garbage refused), the reduction that still fills a tile, and one
reduction per frame and size however many pages ask."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from robot_dog.station import frame_scaling
from robot_dog.station.frame_scaling import ScaledFrames, jpeg_size, reduction_for


def jpeg(width: int = 640, height: int = 480, progressive: bool = False) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return data.tobytes()


@pytest.mark.parametrize("progressive", [False, True])
def test_the_size_is_read_from_the_header_without_decoding(progressive):
    assert jpeg_size(jpeg(1280, 720, progressive)) == (1280, 720)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\x89PNG\r\n", b"\xff\xd8\xff\xda\x00\x02",
                                  b"\xff\xd8\xff\xe0\x00\x10" + b"\x00" * 4, b"\xff\xd8\x00" * 40])
def test_no_size_from_what_is_not_a_jpeg_frame_header(data):
    assert jpeg_size(data) is None


@pytest.mark.parametrize("tile, factor", [(0, 1), (1280, 1), (700, 1), (640, 2), (400, 2),
                                          (320, 4), (161, 4), (160, 8), (10, 8)])
def test_the_largest_reduction_that_still_fills_the_tile(tile, factor):
    assert reduction_for(1280, tile) == factor


def test_a_small_tile_gets_a_smaller_frame_made_once_for_every_page(monkeypatch):
    scaled, frame = ScaledFrames(), jpeg(640, 480)
    made = []
    reduce = frame_scaling.reduce
    monkeypatch.setattr(frame_scaling, "reduce", lambda data, f: made.append(f) or reduce(data, f))
    first = scaled.get("dog1", "bodycam", 7, frame, 300)
    assert first.factor == 2 and jpeg_size(first.jpeg) == (320, 240)
    picture = cv2.imdecode(np.frombuffer(first.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture[120, 40, 2] > 200 and picture[120, 280, 2] < 50   # the same picture, smaller
    for _ in range(5):                                   # five more pages, the same frame
        assert scaled.get("dog1", "bodycam", 7, frame, 300).jpeg == first.jpeg
    assert made == [2]
    scaled.get("dog1", "bodycam", 8, frame, 300)         # the next frame: made again
    assert made == [2, 2]
    whole = scaled.get("dog1", "bodycam", 8, frame, 900)   # a tile wider than the frame
    assert whole.factor == 1 and whole.jpeg is frame and made == [2, 2]


def test_a_frame_that_does_not_decode_is_sent_as_it_came():
    # a frame header (640x480) and nothing after it: sized, but no picture
    broken = b"\xff\xd8\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03" + b"\x01\x22\x00" * 3
    assert jpeg_size(broken) == (640, 480)
    sized = ScaledFrames().get("dog1", "bodycam", 1, broken, 100)
    assert (sized.jpeg, sized.factor) == (broken, 1)
