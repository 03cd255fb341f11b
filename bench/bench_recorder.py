"""The evidence recorder at 720p25 with audio, in real time, as bodycam_node runs it (the
recorder on its own thread behind a bounded queue):

- CPU per frame (encode + mux + hash, this process's CPU time over the frames fed) and frames
  dropped while buffering and while recording (goal: 0 dropped);
- RSS with a full 30 s pre-event buffer, and what the recorder added to it (goal <= 150 MB);
- trigger -> first pre-event frame on disk: from the `record` call until the segment file holds
  a whole fragment (`moof`) of buffered frames (goal <= 1 s);
- hashing rate of the chain's hasher vs `sha256sum` on the same 256 MB file, page cache warm,
  best of 3 each (ratio, goal >= 0.9).

Frames: 50 test-scene frames with the overlay, rendered beforehand and cycled (the camera's
cost is not the recorder's); audio: 16 kHz mono chunks, one per frame.

Then the whole bodycam_node at 720p25 (test scene, overlay, live JPEG stream to a subscriber)
recording continuously with microphone audio published beside it, for LIVE_S: the live frames
received against the timer's 25 Hz, the recorder's dropped frames, and the process's CPU per
frame (camera, overlay, JPEG and recorder together).
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from robot_dog.bodycam.chain import file_digests
from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig
from robot_dog.bodycam.recorder_thread import RecorderThread
from robot_dog.bodycam.retention import RetentionPolicy
from robot_dog.bodycam.scene import Overlay, TestScene
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import signing

W, H, FPS = 1280, 720, 25.0
PRE_EVENT_S = 30.0
RECORD_S = 10.0
LIVE_S = 20.0
_MB = 1024.0 * 1024.0


def _feed(worker: RecorderThread, frames: list[np.ndarray], seconds: float, start_index: int) -> int:
    """Feed frames and audio at 25 fps of wall-clock time for `seconds`; returns frames fed."""
    tone = (np.sin(np.arange(640) / 3) * 6000).astype(np.int16)
    n = round(seconds * FPS)
    begin = time.monotonic()
    for i in range(n):
        due = begin + i / FPS
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.time()
        worker.put_frame(frames[(start_index + i) % len(frames)], now)
        worker.put_audio(tone, 16000, 1, now)
    return n


def _first_fragment_on_disk(root: Path, timeout_s: float = 30.0) -> float:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for path in root.glob("recordings/*/*-segment.mp4"):
            if b"moof" in path.read_bytes()[:4 * 1024 * 1024]:
                return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError("no fragment on disk")


def _hashing(directory: Path) -> dict[str, float]:
    path = directory / "hash.bin"
    with open(path, "wb") as f:
        for _ in range(16):
            f.write(os.urandom(16 * 1024 * 1024))
    size_mb = path.stat().st_size / _MB
    ours, theirs = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        file_digests(path)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
        theirs.append(time.perf_counter() - t0)
    path.unlink()
    return {"hash_mb_per_s": size_mb / min(ours), "sha256sum_mb_per_s": size_mb / min(theirs),
            "hash_ratio_vs_sha256sum": min(theirs) / min(ours)}


def run() -> dict[str, object]:
    me = psutil.Process()
    scene, overlay = TestScene(W, H), Overlay("DOG-BENCH", "000001")
    frames = [scene.render(time.time() + i / FPS, overlay) for i in range(50)]
    rss_before = me.memory_info().rss
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "evidence"
        key = signing.new_key()
        make = lambda: Recorder(RecorderConfig(pre_event_s=PRE_EVENT_S, post_event_s=0.0, segment_s=60.0),
                                VideoSettings(W, H, FPS), EvidenceStore(root, "DOG-BENCH", key),
                                RetentionPolicy(), officer_id="000001")
        worker = RecorderThread(make)
        cpu0 = me.cpu_times()
        fed = _feed(worker, frames, PRE_EVENT_S + 2.0, 0)
        cpu1 = me.cpu_times()
        rss_buffer = me.memory_info().rss
        dropped_buffering = worker.dropped
        asked = time.monotonic()
        worker.call(lambda r: r.start("bench", False, "officer"))
        on_disk = _first_fragment_on_disk(root)
        cpu2 = me.cpu_times()
        fed_rec = _feed(worker, frames, RECORD_S, fed)
        cpu3 = me.cpu_times()
        status = worker.status
        worker.call(lambda r: r.stop("officer")).result(60)
        worker.close()
        figures: dict[str, object] = {
            "state_at_end": status.state if status else worker.error,
            "error": status.error if status else "",
            "frames_fed": fed + fed_rec,
            "frames_dropped_buffering": dropped_buffering,
            "frames_dropped_recording": worker.dropped - dropped_buffering,
            "cpu_ms_per_frame_buffering": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / fed * 1000,
            "cpu_ms_per_frame_recording": (cpu3.user + cpu3.system - cpu2.user - cpu2.system) / fed_rec * 1000,
            "rss_mb_before_recorder": rss_before / _MB,      # libraries + the 50 pre-rendered frames
            "rss_mb_with_30s_buffer": rss_buffer / _MB,
            "rss_mb_added_by_recorder": (rss_buffer - rss_before) / _MB,
            "trigger_to_first_frame_on_disk_ms": (on_disk - asked) * 1000,
        }
        figures.update(_hashing(Path(tmp)))
        figures.update(_live(Path(tmp) / "live"))
    return figures


def _live(root: Path) -> dict[str, object]:
    """bodycam_node recording while it streams, in this process (one executor thread)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CompressedImage

    from robot_dog.bodycam.node import BodycamNode
    from robot_dog.ros import qos
    from robot_dog_interfaces.msg import AudioChunk, RecorderStatus

    context = rclpy.Context()
    rclpy.init(context=context)
    namespace = f"/bench_recorder_{os.getpid()}"
    camera = BodycamNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter("width", value=W), Parameter("height", value=H), Parameter("fps", value=FPS),
        Parameter("evidence_dir", value=str(root)), Parameter("continuous", value=True),
        Parameter("pre_event_s", value=PRE_EVENT_S)])
    viewer = rclpy.create_node("viewer", namespace=namespace, context=context)
    jpegs, statuses = [0], []
    viewer.create_subscription(CompressedImage, "bodycam/image/compressed",
                               lambda _m: jpegs.__setitem__(0, jpegs[0] + 1), qos.SENSOR)
    viewer.create_subscription(RecorderStatus, "bodycam/status", statuses.append, qos.STATE)
    mic = viewer.create_publisher(AudioChunk, "microphone/audio_blocks", qos.SENSOR)
    tone = (np.sin(np.arange(640) / 3) * 6000).astype(np.int16).tolist()
    viewer.create_timer(0.04, lambda: mic.publish(AudioChunk(sample_rate=16000, channels=1, samples=tone)))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(camera)
    executor.add_node(viewer)
    me = psutil.Process()
    try:
        end = time.monotonic() + 3.0                 # settle: first frames, discovery
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        jpegs[0], cpu0, t0 = 0, me.cpu_times(), time.monotonic()
        dropped0 = camera.recorder.worker.dropped if camera.recorder.worker else 0
        while time.monotonic() < t0 + LIVE_S:
            executor.spin_once(timeout_sec=0.05)
        cpu1, elapsed = me.cpu_times(), time.monotonic() - t0
        worker = camera.recorder.worker
        return {
            "live_frames_received_per_s": jpegs[0] / elapsed,
            "live_recorder_frames_dropped": (worker.dropped if worker else 0) - dropped0,
            "live_recorder_state": statuses[-1].state if statuses else "no status",
            "live_cpu_ms_per_frame_all": (cpu1.user + cpu1.system - cpu0.user - cpu0.system)
                                         / max(1, jpegs[0]) * 1000,
            "live_cpu_percent_of_one_core": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed * 100,
        }
    finally:
        executor.shutdown()
        camera.close()
        camera.destroy_node()
        viewer.destroy_node()
        rclpy.shutdown(context=context)
