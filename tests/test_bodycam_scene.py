"""The bodycam test scene: what it must show (moving content, colour bars in BGR order, the
burned-in overlay of time, device, officer and position) and JPEG encoding."""
import time

import cv2
import numpy as np
import pytest

from robot_dog.bodycam.scene import (OFFICER_LINE, Overlay, TestScene as Scene, burn_in,
                                     encode_jpeg, line_rows)

OVERLAY = Overlay("DOG-0001", "000042")
T0 = 1_700_000_000.25


def test_frames_have_the_requested_size_and_type():
    frame = Scene(320, 240).render(T0, OVERLAY)
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8


def test_the_disc_moves_so_a_stalled_stream_shows():
    scene = Scene(640, 480)
    a, b = scene.render(T0, OVERLAY), scene.render(T0 + 1.0, OVERLAY)
    below_overlay = slice(200, 480)  # the overlay band changes with the clock anyway
    assert np.any(a[below_overlay] != b[below_overlay])
    assert np.array_equal(scene.render(T0, OVERLAY), a)  # a function of the time only


def test_colour_bars_are_in_bgr_order():
    frame = Scene(800, 480).render(T0, OVERLAY)
    row = frame[470]  # below the disc's lowest reach and the overlay
    # second bar yellow (B=0, G=255, R=255), sixth red (0, 0, 255), seventh blue (255, 0, 0).
    assert tuple(row[150]) == (0, 255, 255)
    assert tuple(row[550]) == (0, 0, 255)
    assert tuple(row[650]) == (255, 0, 0)


def test_the_overlay_is_burned_in_and_changes_with_the_clock():
    blank = np.full((480, 640, 3), 200, np.uint8)
    one, other = blank.copy(), blank.copy()
    burn_in(one, OVERLAY, T0)
    burn_in(other, OVERLAY, T0 + 1.0)
    band = slice(0, 100)
    assert not np.array_equal(one[band], blank[band])        # text and a dimmed band
    assert not np.array_equal(one[band], other[band])        # the clock moved
    assert np.array_equal(one[200:], blank[200:])            # nothing below the band
    different_officer = blank.copy()
    burn_in(different_officer, Overlay("DOG-0001", "999999"), T0)
    assert not np.array_equal(one[band], different_officer[band])


def test_overlay_clock_is_local_wall_time_with_milliseconds(monkeypatch):
    texts: list[str] = []
    monkeypatch.setattr(cv2, "putText", lambda img, text, *a, **k: texts.append(text))
    burn_in(np.zeros((480, 640, 3), np.uint8), OVERLAY, T0)
    assert texts[0] == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T0)) + ".250"
    assert texts[1] == "DEV DOG-0001  OFC 000042"
    assert texts[2] == "36.65120N 117.12010E"


def test_jpeg_round_trip_and_quality():
    frame = Scene(640, 480).render(T0, OVERLAY)
    high, low = encode_jpeg(frame, 95), encode_jpeg(frame, 20)
    assert high[:2] == b"\xff\xd8" and len(low) < len(high)
    decoded = cv2.imdecode(np.frombuffer(high, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape
    assert np.abs(decoded.astype(np.int16) - frame.astype(np.int16)).mean() < 3.0


def test_an_empty_frame_cannot_be_encoded():
    with pytest.raises((ValueError, cv2.error)):
        encode_jpeg(np.zeros((0, 0, 3), np.uint8), 80)


def _officer_band(officer: str, height: int = 240) -> np.ndarray:
    frame = np.full((height, 320, 3), 120, np.uint8)
    burn_in(frame, Overlay("DOG-0001", officer), T0)
    return frame[line_rows(height, OFFICER_LINE)]


def test_an_officer_named_in_chinese_is_drawn_not_question_marks():
    from robot_dog.bodycam.scene import _font
    assert _font(12) is not None, "install fonts-wqy-microhei (dev.sh does)"
    wang = _officer_band("王警官")
    assert not np.array_equal(wang, _officer_band("???"))
    assert not np.array_equal(wang, _officer_band("000000"))
    assert not np.array_equal(wang, _officer_band("王警员"))      # the glyphs themselves differ
    assert np.array_equal(wang, _officer_band("王警官"))          # read back by drawing it again
    ink = (wang > 200).all(axis=2)                               # white text on the dimmed band
    assert np.where(ink.any(axis=0))[0].max() > 120, "the name follows the device ID"


def test_each_overlay_line_has_rows_of_its_own():
    for height in (240, 480, 1080):
        rows = [line_rows(height, n) for n in range(3)]
        assert all(a.stop <= b.start for a, b in zip(rows, rows[1:]))
        assert rows[0].start >= 0
