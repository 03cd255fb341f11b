"""The recorder's ROS shell, inside bodycam_node (the camera has one owner, and the recorder takes
its full-quality frames with the overlay burned in, before any JPEG compression).

Serves `bodycam/record` (Record) and `bodycam/snapshot` (Snapshot); publishes `bodycam/status`
(RecorderStatus, 1 Hz and on every request) and a `bodycam: recorder` entry on `/diagnostics`.
Triggers: `estop` (EstopState.engaged), `police_light/state` (pattern not off),
`megaphone/siren_active` (Bool),
`microphone/events` (any SoundEvent: post-event time from the event); audio from
`microphone/audio_blocks` (100 ms blocks: the recorder keeps audio, it does not play it live) is
muxed in. Callbacks only hand work to the recorder's thread
(recorder_thread.py); service callbacks are `async` and await its answer.

With `evidence_dir` empty the recorder is off and the status says `disabled`.
"""
from __future__ import annotations

import math
import shutil
import time
from concurrent.futures import Future as ConcurrentFuture
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.task import Future
from std_msgs.msg import Bool

from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig, RecorderError
from robot_dog.bodycam.recorder_thread import RecorderThread
from robot_dog.bodycam.retention import FULL, LOW, RetentionPolicy
from robot_dog.bodycam.scene import encode_jpeg
from robot_dog.bodycam.store import EvidenceStore, StoreError
from robot_dog.errors import Refused, answer
from robot_dog.mqtt import signing
from robot_dog.ros import qos
from robot_dog.ros.params import declare_read_only
from robot_dog_interfaces.msg import AudioChunk, EstopState, PoliceLightState, RecorderStatus, SoundEvent
from robot_dog_interfaces.srv import Record, Snapshot

MB = 1024 * 1024
LOCAL_KEY = "evidence.key"


def load_or_create_key(path: str, evidence_dir: Path, log: Any) -> Any:
    """The fleet's evidence key for this dog; without one, a key of this recorder's own (kept
    in the evidence directory, 0600) so that footage is never lost for want of a key."""
    if path:
        return signing.load_signing_key(path)
    local = evidence_dir / LOCAL_KEY
    if local.exists():
        return signing.load_signing_key(local)
    log.warning(f"no evidence_key given: created {local}; give the station its public half "
                f"({evidence_dir / 'evidence.pub'}) or use the fleet's key")
    key = signing.new_key()
    evidence_dir.mkdir(parents=True, exist_ok=True)
    local.touch(0o600)
    local.write_bytes(signing.private_pem(key))
    return key


def disk_free(path: Path) -> int:
    """Free bytes where the evidence goes; 0 when that cannot be known (treated as full)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


class RecorderShell:
    def __init__(self, node: Node, *, width: int, height: int, fps: float, device_id: str,
                 officer_id: str) -> None:
        self.node, self.device_id, self.officer_id = node, device_id, officer_id
        p = partial(declare_read_only, node)
        evidence_dir = p("evidence_dir", "", "recorder's evidence directory; empty: recorder off")
        key_path = p("evidence_key", "", "Ed25519 evidence key (fleet: dogs/<dog>/evidence.key)")
        self.config = RecorderConfig(
            pre_event_s=p("pre_event_s", 30.0, "pre-event buffer, s (0..120)"),
            post_event_s=p("post_event_s", 30.0, "recording goes on after the last trigger, s"),
            segment_s=p("segment_s", 60.0, "segment length, s"),
            continuous=p("continuous", False, "record all the time (non-triggered footage)"))
        policy = RetentionPolicy(quota_bytes=p("quota_mb", 20480, "evidence quota, MB") * MB,
                                 min_free_bytes=p("min_free_mb", 512, "disk kept free for triggered footage, MB") * MB)
        video = VideoSettings(width, height, fps, crf=p("crf", 23, "H.264 quality (x264 CRF, lower = better)"),
                              preset=p("preset", "veryfast", "x264 preset (CPU vs size)"))
        queue_frames = p("queue_frames", 25, "frames waiting for the encoder before new ones are dropped")
        self.root = Path(evidence_dir) if evidence_dir else None
        self.worker: RecorderThread | None = None
        self._latest: tuple[np.ndarray, float] | None = None
        if self.root is not None:
            def make() -> Recorder:
                key = load_or_create_key(key_path, self.root, node.get_logger())
                store = EvidenceStore(self.root, device_id, key)
                for rec in store.recover():
                    node.get_logger().warning(f"recording {rec} was cut by a crash: sealed")
                return Recorder(self.config, video, store, policy, officer_id=officer_id,
                                disk_free=partial(disk_free, self.root))
            self.worker = RecorderThread(make, queue_frames)
        node.create_service(Record, "bodycam/record", self._on_record)
        node.create_service(Snapshot, "bodycam/snapshot", self._on_snapshot)
        node.create_subscription(EstopState, "estop", self._on_estop, qos.STATE)
        node.create_subscription(PoliceLightState, "police_light/state", self._on_light, qos.STATE)
        node.create_subscription(Bool, "megaphone/siren_active", self._on_siren, qos.STATE)
        node.create_subscription(SoundEvent, "microphone/events", self._on_sound, qos.TELEMETRY)
        node.create_subscription(AudioChunk, "microphone/audio_blocks", self._on_audio, qos.SENSOR)
        self.status_pub = node.create_publisher(RecorderStatus, "bodycam/status", qos.STATE)
        self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", qos.TELEMETRY)
        node.create_timer(1.0, self._publish)

    def set_officer(self, officer_id: str) -> None:
        """The officer on duty changed (teleop/officer): recordings started from now name them;
        one under way keeps the officer it started with (its manifest is written at the start)."""
        self.officer_id = officer_id
        if self.worker is not None:
            self.worker.call(lambda recorder: setattr(recorder, "officer_id", officer_id))

    # --- frames and audio (never block) -----------------------------------------------------
    def put_frame(self, frame: np.ndarray, t: float) -> None:
        self._latest = (frame, t)
        if self.worker is not None:
            self.worker.put_frame(frame, t)

    def _on_audio(self, msg: AudioChunk) -> None:
        if self.worker is not None and msg.channels in (1, 2) and msg.sample_rate > 0:
            samples = np.asarray(msg.samples, np.int16)
            # On the frames' clock (wall time at arrival), not the header's (sim time in the
            # simulator): the chunk's first sample was taken about one chunk ago.
            t = time.time() - len(samples) / msg.channels / msg.sample_rate
            self.worker.put_audio(samples, msg.sample_rate, msg.channels, t)

    # --- triggers ---------------------------------------------------------------------------
    def _on_estop(self, msg: EstopState) -> None:
        self._call(lambda r: r.set_condition("estop", bool(msg.engaged)))

    def _on_light(self, msg: PoliceLightState) -> None:
        self._call(lambda r: r.set_condition("police_light", msg.pattern != "off"))

    def _on_siren(self, msg: Bool) -> None:
        self._call(lambda r: r.set_condition("siren", bool(msg.data)))

    def _on_sound(self, msg: SoundEvent) -> None:
        if math.isfinite(msg.confidence) and msg.kind:
            self._call(lambda r: r.momentary("sound_event", f"sound event: {msg.kind[:32]}"))

    def _call(self, job: Any) -> ConcurrentFuture | None:
        if self.worker is None:
            return None
        future = self.worker.call(job)
        future.add_done_callback(self._log_failure)
        return future

    def _log_failure(self, future: ConcurrentFuture) -> None:
        exc = future.exception()
        if exc is not None and not isinstance(exc, RecorderError):
            self.node.get_logger().error(f"recorder: {exc}")

    # --- services (async: await the recorder's thread, never block the executor) ------------
    async def _on_record(self, request: Record.Request, response: Record.Response) -> Record.Response:
        source = request.source[:32] or "unknown"
        reason = request.reason[:120]
        if request.start:
            job = lambda r: r.start(reason, request.lock, source)
        else:
            job = lambda r: r.stop(source, reason)
        try:
            response.recording_id = await self._await(self._call(job))
            answer(response, message=f"recording {response.recording_id}")
        except (_Disabled, StoreError, OSError, RuntimeError) as exc:   # RecorderError too
            answer(response, self._refusal("record", exc))
        self._publish()
        return response

    async def _on_snapshot(self, request: Snapshot.Request, response: Snapshot.Response) -> Snapshot.Response:
        latest = self._latest
        if latest is None:
            return answer(response, Refused("no_frame", "no camera frame yet"))
        frame, t = latest
        reason, source = request.reason[:120], request.source[:32] or "unknown"
        job = lambda r: r.snapshot(encode_jpeg(frame, r.config.snapshot_quality), t, reason, source)
        try:
            kept = await self._await(self._call(job))
        except (_Disabled, StoreError, OSError, RuntimeError) as exc:
            return answer(response, self._refusal("snapshot", exc))
        response.path, response.sha256 = kept["path"], kept["sha256"]
        self._publish()
        return answer(response, message=f"still {kept['sha256'][:12]}")

    def _refusal(self, what: str, exc: Exception) -> Refused:
        """A failed request as its refusal: the recorder's own (locked, trigger_active,
        not_recording), disabled, or store_error for anything that broke on the way to disk
        (logged: those are faults, not answers)."""
        if isinstance(exc, RecorderError):
            return Refused(exc.code, str(exc))
        if isinstance(exc, _Disabled):
            return Refused("disabled", "the recorder is off (no evidence_dir)")
        self.node.get_logger().error(f"{what}: {exc}")
        return Refused("store_error", f"{what} not kept: {exc}")

    async def _await(self, future: ConcurrentFuture | None) -> Any:
        if future is None:
            raise _Disabled()
        done: Future = Future(executor=self.node.executor)
        # A done callback makes set_result wake the executor (it schedules the callback).
        done.add_done_callback(lambda _f: None)
        future.add_done_callback(lambda f: done.set_exception(f.exception()) if f.exception()
                                 else done.set_result(f.result()))
        return await done

    # --- status -----------------------------------------------------------------------------
    def _publish(self) -> None:
        msg = RecorderStatus(pre_event_s=float(self.config.pre_event_s), officer_id=self.officer_id,
                             device_id=self.device_id)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        worker = self.worker
        status = worker.status if worker else None
        if worker is None:
            msg.state = "disabled"
        elif status is None:
            msg.state, msg.error = ("error", worker.error) if worker.error else ("idle", "")
        else:
            msg.state, msg.reason, msg.locked = status.state, status.reason, status.locked
            msg.recording_id, msg.triggers = status.recording_id, list(status.triggers)
            msg.segment_index, msg.segment_sha256 = status.segment_index, status.segment_sha256
            msg.storage, msg.bytes_used = status.storage, status.bytes_used
            msg.bytes_free, msg.error = max(0, status.bytes_free), status.error
        msg.frames_dropped = worker.dropped if worker else 0
        self.status_pub.publish(msg)
        self._diag_pub.publish(self._diagnostics(msg))

    def _diagnostics(self, msg: RecorderStatus) -> DiagnosticArray:
        level, text = DiagnosticStatus.OK, msg.state
        if msg.state == "error":
            level, text = DiagnosticStatus.ERROR, f"error: {msg.error}"
        elif msg.storage == FULL:
            level, text = DiagnosticStatus.ERROR, "storage full: non-triggered footage refused"
        elif msg.storage == LOW:
            level, text = DiagnosticStatus.WARN, "storage low: upload and release footage"
        elif msg.frames_dropped:
            level, text = DiagnosticStatus.WARN, f"{msg.state}; {msg.frames_dropped} frames dropped"
        values = {"state": msg.state, "recording_id": msg.recording_id, "storage": msg.storage,
                  "bytes_used": str(msg.bytes_used), "bytes_free": str(msg.bytes_free),
                  "frames_dropped": str(msg.frames_dropped), "locked": str(msg.locked),
                  "frames_refused": str(self.worker.failures if self.worker else 0),
                  "last_refusal": self.worker.error if self.worker else ""}
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=level, name="bodycam: recorder", message=text, hardware_id=self.device_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()])])
        array.header.stamp = msg.header.stamp
        return array

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


class _Disabled(Exception):
    """The recorder is off (no evidence_dir)."""
