"""The recorder core with real PyAV, real files and ffprobe as the judge, on a fake clock:
pre-event frames are in the first segment, segments are gapless and of fixed length, triggers
hold recording for the post-event time, a locked recording refuses a remote stop, stills are
kept like segments, and a full store refuses only non-triggered footage."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest

from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig, RecorderError
from robot_dog.bodycam.retention import RetentionPolicy
from robot_dog.bodycam.scene import Overlay, encode_jpeg
from robot_dog.bodycam.scene import TestScene as Scene
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.bodycam.verify import verify
from robot_dog.mqtt import signing

pytestmark = pytest.mark.slow   # ffprobe, a process, judges the files

W, H, FPS = 320, 240, 25.0
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig(tmp_path):
    clock = Clock()
    scene = Scene(W, H)
    overlay = Overlay(device_id="DOG-T", officer_id="012345")
    free = {"bytes": 1 << 40}
    key = signing.new_key()     # the dog's evidence key: the same across restarts
    made = []

    def make(**config):
        policy = config.pop("policy", RetentionPolicy())
        store = EvidenceStore(tmp_path / "evidence", "DOG-T", key, clock)
        made.append(Recorder(RecorderConfig(**config), VideoSettings(W, H, FPS), store, policy,
                             officer_id="012345", clock=clock, disk_free=lambda: free["bytes"]))
        return made[-1]

    def run(recorder, seconds, audio=True):
        for _ in range(round(seconds * FPS)):
            clock.now += 1 / FPS
            recorder.on_frame(scene.render(clock.now, overlay), clock.now)
            if audio:   # 1 kHz tone, 16 kHz mono, one chunk per frame
                n = np.arange(640) + round(clock.now * 16000)
                recorder.on_audio((np.sin(2 * np.pi * 1000 * n / 16000) * 8000).astype(np.int16),
                                  16000, 1, clock.now)
    def record(recorder, seconds, reason="test"):
        """The officer records `seconds` of video and stops; the recorder is closed."""
        recorder.start(reason, lock=False, source="officer")
        run(recorder, seconds, audio=False)
        recorder.stop("officer")
        recorder.close()
    rig = type("Rig", (), {})()
    rig.make, rig.run, rig.record = make, run, record
    rig.clock, rig.root, rig.free = clock, tmp_path / "evidence", free
    yield rig
    for recorder in made:
        recorder.close()


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,nb_read_frames,duration", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60, check=True)
    doc = json.loads(out.stdout)
    video = next(s for s in doc["streams"] if s["codec_name"] == "h264")
    return {"codecs": [s["codec_name"] for s in doc["streams"]], "frames": int(video["nb_read_frames"]),
            "duration": float(video["duration"])}


def audio_seconds(path) -> float:
    """Seconds of audio in a file: its AAC frames (1,024 samples at 16 kHz each)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "a:0",
                          "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60, check=True)
    return int(out.stdout.strip()) * 1024 / 16000


def segments(root):
    return sorted(root.glob("recordings/*/*-segment.mp4"))


def manifests(root):
    return [json.loads(p.read_text()) for p in sorted(root.glob("recordings/*/manifest.json"))]


def test_pre_event_frames_open_the_recording_and_segments_are_gapless(rig):
    recorder = rig.make(pre_event_s=2.0, post_event_s=1.0, segment_s=3.0)
    rig.run(recorder, 5.0)                       # buffering only: nothing on disk
    assert not segments(rig.root)
    triggered_at = rig.clock.now
    recorder.start("officer saw a fight", lock=False, source="officer")
    rig.run(recorder, 7.0)
    recorder.stop("officer")
    rig.run(recorder, 1.0)
    recorder.close()

    files = segments(rig.root)
    manifest = manifests(rig.root)[0]
    entries = manifest["entries"]
    assert [e["file"] for e in entries] == [f.name for f in files]
    # The first segment begins 2 to 3 s (buffer + one GOP) before the trigger.
    assert 2.0 <= triggered_at - entries[0]["start"] <= 3.0 + 1e-6
    # Gapless: each segment starts where the one before ended, and all but the last are 3 s.
    for before, after in zip(entries, entries[1:]):
        assert after["start"] == pytest.approx(before["end"], abs=0.002)
    for path in files[:-1]:
        info = probe(path)
        assert info["codecs"] == ["h264", "aac"]
        assert info["frames"] == 75 and info["duration"] == pytest.approx(3.0, abs=0.05)
    total = sum(probe(p)["frames"] for p in files)
    assert total == round((entries[-1]["end"] - entries[0]["start"]) * FPS)
    # Audio is gapless across the cuts too: each middle segment holds its 3 s of sound.
    for path in files[1:-1]:
        assert audio_seconds(path) == pytest.approx(3.0, abs=0.07)
    assert verify(rig.root).ok


def decoded_frames(path) -> list[np.ndarray]:
    """Every frame of a segment file as BGR, decoded by OpenCV's FFmpeg (not the encoder's PyAV)."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_the_burned_in_overlay_is_in_every_recorded_frame(rig):
    rig.record(rig.make(pre_event_s=0.0, post_event_s=0.0, segment_s=60.0), 1.0)
    frames = decoded_frames(segments(rig.root)[0])
    assert len(frames) == round(FPS) and frames[0].shape == (H, W, 3)
    for frame in frames:
        # The overlay band darkens the top of the colour bars; the white bar at the left shows it.
        assert frame[5:20, 2:30].mean() < 160 and frame[H - 5, 2:30].mean() > 200


def test_the_recording_keeps_the_cameras_colours(rig):
    """The encoder's colour conversion (BGR to YUV 4:2:0) must neither swap nor shift colours:
    each decoded frame is within a few grey levels of the frame fed, bar by bar."""
    fed = []
    overlay = Overlay(device_id="DOG-T", officer_id="012345")
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0, segment_s=60.0)
    recorder.start("colours", lock=False, source="officer")
    for _ in range(round(FPS)):
        rig.clock.now += 1 / FPS
        fed.append(Scene(W, H).render(rig.clock.now, overlay))
        recorder.on_frame(fed[-1], rig.clock.now)
    recorder.stop("officer")
    recorder.close()
    decoded = decoded_frames(segments(rig.root)[0])
    assert len(decoded) == len(fed)
    for got, want in zip(decoded, fed):
        error = np.abs(got.astype(np.int16) - want.astype(np.int16))
        assert error.mean() < 4.0
        # Each colour bar (BGR order: red in the sixth, blue in the seventh) keeps its colour.
        row = H - 4
        for x in range(W // 16, W, W // 8):
            assert np.abs(got[row, x].astype(int) - want[row, x].astype(int)).max() < 16, x


def test_a_trigger_records_for_the_post_event_time_after_it_ends(rig):
    recorder = rig.make(pre_event_s=1.0, post_event_s=2.0, segment_s=60.0)
    rig.run(recorder, 2.0, audio=False)
    recorder.set_condition("estop", True)
    assert recorder.status().state == "recording" and recorder.status().triggers == ("estop",)
    rig.run(recorder, 1.0, audio=False)
    recorder.set_condition("estop", False)
    ended = rig.clock.now
    rig.run(recorder, 1.0, audio=False)
    assert recorder.status().state == "post_event"
    rig.run(recorder, 1.5, audio=False)
    assert recorder.status().state == "buffering"
    manifest = manifests(rig.root)[0]
    assert manifest["reason"] == "e-stop engaged" and manifest["ended_at"] is not None
    assert manifest["entries"][-1]["end"] == pytest.approx(ended + 2.0, abs=0.1)


def test_a_sound_event_records_its_post_event_time(rig):
    recorder = rig.make(pre_event_s=0.0, post_event_s=1.0, segment_s=60.0)
    recorder.momentary("sound_event", "sound event: glass_break")
    rig.run(recorder, 2.0, audio=False)
    assert recorder.status().state == "idle"
    entries = manifests(rig.root)[0]["entries"]
    assert entries[-1]["end"] - entries[0]["start"] == pytest.approx(1.0, abs=0.1)


def test_a_locked_recording_cannot_be_stopped_remotely(rig):
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0)
    recorder.start("arrest", lock=True, source="officer")
    rig.run(recorder, 0.5, audio=False)
    with pytest.raises(RecorderError) as refused:
        recorder.stop("station")
    assert refused.value.code == "locked" and recorder.status().state == "recording"
    assert recorder.status().locked
    recorder.stop("handheld")
    rig.run(recorder, 0.2, audio=False)
    assert recorder.status().state == "idle"
    audit = [json.loads(line) for line in (rig.root / "audit.log").read_text().splitlines()]
    assert [(a["actor"], a["action"]) for a in audit] == [("officer", "started"), ("handheld", "stopped")]


def test_a_stop_does_not_end_a_recording_an_estop_holds(rig):
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0)
    recorder.set_condition("estop", True)
    rig.run(recorder, 0.3, audio=False)
    with pytest.raises(RecorderError) as refused:
        recorder.stop("officer")
    assert refused.value.code == "trigger_active"
    assert recorder.status().state == "recording"


def test_a_snapshot_is_hashed_chained_and_signed(rig):
    recorder = rig.make(pre_event_s=1.0)
    rig.run(recorder, 0.5, audio=False)
    frame = Scene(W, H).render(rig.clock.now, Overlay("DOG-T", "012345"))
    kept = recorder.snapshot(encode_jpeg(frame, 95), rig.clock.now, "plate", "officer")
    assert kept["path"].endswith(".jpg") and len(kept["sha256"]) == 64
    report = verify(rig.root)
    assert report.ok and report.recordings[0].items == [(kept["file"], "intact")]
    assert cv2.imread(kept["path"]).shape == (H, W, 3)


def test_full_storage_refuses_continuous_footage_but_records_a_trigger(rig):
    rig.free["bytes"] = 0
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0, continuous=True)
    rig.run(recorder, 0.5, audio=False)
    status = recorder.status()
    assert status.storage == "full" and status.state == "idle" and not segments(rig.root)
    audit = [json.loads(line) for line in (rig.root / "audit.log").read_text().splitlines()]
    assert audit[0]["action"] == "storage" and audit[0]["detail"].startswith("storage full")
    recorder.set_condition("police_light", True)
    rig.run(recorder, 0.5, audio=False)
    assert recorder.status().state == "recording"


def test_the_chain_resumes_across_a_restart(rig):
    rig.record(rig.make(pre_event_s=0.0, post_event_s=0.0, segment_s=1.0), 2.0, "one")
    rig.record(rig.make(pre_event_s=0.0, post_event_s=0.0, segment_s=1.0), 1.5, "two")
    first, second = manifests(rig.root)
    assert second["chain_prev"] == first["entries"][-1]["hash"]
    assert second["entries"][0]["seq"] == first["entries"][-1]["seq"] + 1
    assert verify(rig.root).ok


def test_frames_within_one_millisecond_still_record(rig):
    """A loaded machine hands frames over in bursts; the muxer must never see a repeated time."""
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0)
    recorder.start("burst", lock=False, source="officer")
    frame = Scene(W, H).render(rig.clock.now, Overlay("DOG-T", "1"))
    for _ in range(30):
        rig.clock.now += 0.0001
        recorder.on_frame(frame, rig.clock.now)
    recorder.stop("officer")
    assert recorder.status().error == ""
    assert probe(segments(rig.root)[0])["frames"] == 30


def test_an_unwritable_store_is_a_clear_refusal_and_the_recorder_recovers(rig):
    recorder = rig.make(pre_event_s=0.0, post_event_s=0.0)
    recordings = rig.root / "recordings"
    recordings.rename(rig.root / "moved")
    recordings.write_text("in the way")             # mkdir of a recording now fails
    with pytest.raises(RecorderError) as refused:
        recorder.start("blocked", lock=False, source="officer")
    assert refused.value.code == "not_recording"
    status = recorder.status()
    assert status.state == "error" and "cannot start a recording" in status.error
    recordings.unlink()
    (rig.root / "moved").rename(recordings)
    rig.clock.now += 10.0                           # past the retry pause
    recorder.start("unblocked", lock=False, source="officer")
    rig.run(recorder, 0.5, audio=False)
    assert recorder.status().state == "recording"
    audit = [json.loads(line) for line in (rig.root / "audit.log").read_text().splitlines()]
    assert audit[0]["action"] == "error" and "cannot start a recording" in audit[0]["detail"]


def test_config_limits():
    with pytest.raises(ValueError):
        RecorderConfig(pre_event_s=121.0)
    with pytest.raises(ValueError):
        RecorderConfig(segment_s=0.5)
