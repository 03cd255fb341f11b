"""Bodycam frame sources: test scene, OpenCV file, ROS topic frames (pure; no ROS here)."""
import cv2
import numpy as np
import pytest

from robot_dog.bodycam.sources import (OpenCvSource, SceneSource, SourceError, TopicSource,
                                       image_from_msg, no_signal, open_source)


def test_open_by_spec(tmp_path):
    assert isinstance(open_source("test_scene", 64, 48), SceneSource)
    assert isinstance(open_source("topic:camera/image_raw", 64, 48), TopicSource)
    with pytest.raises(SourceError, match="cannot open"):
        open_source(str(tmp_path / "missing.mp4"), 64, 48)


def test_video_file_loops_and_fits(tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(3):
        writer.write(np.full((24, 32, 3), 80 * i, np.uint8))
    writer.release()
    source = OpenCvSource(path, 64, 48)
    frames = [source.frame(0.0) for _ in range(5)]
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
    assert abs(int(frames[3].mean()) - int(frames[0].mean())) < 10   # looped to the start
    source.close()


def test_topic_source_newest_frame_then_stale():
    source = TopicSource(4, 2, stale_s=1.0)
    assert source.frame(0.0, now=0.0) is None
    source.put(np.full((2, 4, 3), 7, np.uint8), now=10.0)
    assert source.frame(0.0, now=10.5)[0, 0, 0] == 7
    assert source.frame(0.0, now=11.5) is None   # camera lost


def test_image_from_msg_bgr_rgb_and_bad():
    rgb = bytes([255, 0, 0] * 2 + [0, 0])   # 2x1 red, row padded to step 8
    image = image_from_msg("rgb8", 2, 1, 8, rgb)
    assert image.shape == (1, 2, 3) and list(image[0, 0]) == [0, 0, 255]
    with pytest.raises(ValueError, match="encoding"):
        image_from_msg("mono16", 2, 1, 4, b"\0" * 4)
    with pytest.raises(ValueError, match="too short"):
        image_from_msg("bgr8", 2, 2, 6, b"\0" * 6)


def test_no_signal_frame_has_text():
    frame = no_signal(320, 240)
    assert frame.shape == (240, 320, 3) and frame.max() == 255 and frame.mean() < 20
