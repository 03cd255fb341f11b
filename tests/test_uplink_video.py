"""Re-encoding the bodycam JPEG for a slow link: smaller at lower quality and scale, the same
picture, and a frame it cannot decode passed through unchanged."""
import cv2
import numpy as np

from robot_dog.bodycam.scene import Overlay, TestScene as Scene, encode_jpeg
from robot_dog.uplink.video import reencode

FRAME = Scene(640, 480).render(1_700_000_000.0, Overlay("DOG-0001", "000042"))
JPEG = encode_jpeg(FRAME, 90)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_lower_quality_and_scale_make_smaller_frames_of_the_same_picture():
    half = reencode(JPEG, quality=50, scale=0.5)
    assert decode(half).shape == (240, 320, 3)
    assert len(half) < len(reencode(JPEG, quality=50, scale=1.0)) < len(JPEG)
    # Still the same scene: the downscaled original and the re-encoded frame agree closely.
    expected = cv2.resize(FRAME, (320, 240), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert np.abs(decode(half).astype(np.int16) - expected).mean() < 8.0


def test_full_scale_keeps_the_resolution():
    assert decode(reencode(JPEG, quality=70, scale=1.0)).shape == (480, 640, 3)


def test_undecodable_input_is_passed_through():
    garbage = b"\xff\xd8not a jpeg"
    assert reencode(garbage, quality=50, scale=0.5) is garbage
