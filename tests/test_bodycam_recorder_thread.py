"""The recorder's thread: a full queue drops frames and counts them instead of blocking the
caller; requests are never dropped, run after the frames queued before them, and come back as futures with the recorder's answer or
refusal; a recorder that cannot start fails every request with the reason."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig, RecorderError
from robot_dog.bodycam.recorder_thread import RecorderThread
from robot_dog.bodycam.retention import RetentionPolicy
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import signing


@pytest.fixture
def make(tmp_path):
    def make() -> Recorder:
        return Recorder(RecorderConfig(pre_event_s=1.0), VideoSettings(160, 120, 25.0),
                        EvidenceStore(tmp_path / "evidence", "DOG-Q", signing.new_key()),
                        RetentionPolicy(), officer_id="1")
    return make


def test_a_full_queue_drops_frames_and_never_blocks(make):
    worker = RecorderThread(make, queue_frames=5)
    try:
        gate = threading.Event()
        held = worker.call(lambda r: gate.wait(60))          # the recorder is busy
        frame = np.zeros((120, 160, 3), np.uint8)
        accepted = [worker.put_frame(frame, 1000.0 + i / 25) for i in range(12)]
        assert accepted == [True] * 5 + [False] * 7 and worker.dropped == 7
        answer = worker.call(lambda r: r.frames)             # a request waits, it is not dropped
        gate.set()
        assert held.result(60) is True
        assert answer.result(60) == 5      # after the frames queued before it
        refused = worker.call(lambda r: r.stop("station"))
        with pytest.raises(RecorderError) as exc:
            refused.result(60)
        assert exc.value.code == "not_recording"
    finally:
        worker.close()


def test_a_malformed_frame_is_counted_and_recording_goes_on(make):
    worker = RecorderThread(make)
    try:
        assert worker.call(lambda r: r.start("x", False, "officer")).result(60)
        good = np.zeros((120, 160, 3), np.uint8)
        for i, frame in enumerate([good, np.zeros((10, 10, 3), np.uint8), good]):
            worker.put_frame(frame, 1000.0 + i / 25)
        assert worker.call(lambda r: r.frames).result(60) == 2
        assert worker.failures == 1 and "does not match" in worker.error
        assert worker.status.state == "recording"
    finally:
        worker.close()


def test_a_recorder_that_cannot_start_fails_every_request(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")

    def make() -> Recorder:
        return Recorder(RecorderConfig(), VideoSettings(160, 120, 25.0),
                        EvidenceStore(blocker, "DOG-Q", signing.new_key()), RetentionPolicy(), officer_id="1")
    worker = RecorderThread(make)
    worker.close()
    assert "cannot use evidence directory" in worker.error
    with pytest.raises(RuntimeError, match="cannot use evidence directory"):
        worker.call(lambda r: r.start("x", False, "officer")).result(60)
