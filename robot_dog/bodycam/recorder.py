"""The law-enforcement recorder's core: triggers, pre-event buffer, gapless segments, stills.

No ROS and no threads: the caller (the node's recording thread) hands in frames, audio and
requests one at a time; time comes with each frame (`t`, s since the epoch) and from the
injected clock; closed files go to the injected EvidenceStore (hashed, chained, signed).

Triggers. Level triggers hold a recording while active: the officer's `record` request
(until stopped), e-stop engaged, siren on, police light on. Momentary triggers (a sound event,
a handheld button press, a station `record` verb with no stop) hold it for `post_event_s`.
When the last trigger ends, recording goes on for `post_event_s` more. A recording starts
with the pre-event buffer (the `pre_event_s` before the trigger); with no buffer it starts at
a keyframe forced on the next frame.

Stopping. `stop` ends the officer's request and any post-event time; level triggers still
active keep recording (refused: `trigger_active`). A locked recording cannot be stopped from
a remote source (refused: `locked`); the officer on the dog (sources in LOCAL_SOURCES) can.

Segments are `segment_s` long: at that age the next frame is forced to a keyframe and starts
the next file, so segments join without a gap or an overlap.

Full storage (retention.py) refuses only non-triggered footage (continuous recording): an
incident is always recorded while the disk has room.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_dog.bodycam import retention
from robot_dog.bodycam.encoding import (AudioEncoder, EncodedPacket, EncodingError, SegmentFile,
                                        VideoEncoder, VideoSettings)
from robot_dog.bodycam.prebuffer import MAX_SECONDS, PreEventBuffer
from robot_dog.bodycam.store import EvidenceStore, StoreError

_LOGGER = logging.getLogger(__name__)

#: Request sources that are the officer at the dog; anything else (the station, unknown) is remote.
LOCAL_SOURCES = frozenset({"officer", "handheld", "button"})
#: Level triggers the dog's own state raises (name -> reason written in the audit log).
CONDITIONS = {"estop": "e-stop engaged", "siren": "siren on", "police_light": "police light on"}
OFFICER = "officer_request"
AUDIO_LAG_S = 0.5      # longest wait for the audio of a closed segment before it is sealed
RETRY_AFTER_ERROR_S = 5.0


class RecorderError(RobotDogError, RuntimeError):
    """A request the recorder refuses; `code` is stable snake_case for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RecorderConfig:
    pre_event_s: float = 30.0
    post_event_s: float = 30.0
    segment_s: float = 60.0
    continuous: bool = False          # record all the time (non-triggered footage)
    snapshot_quality: int = 95        # JPEG quality of stills

    def __post_init__(self) -> None:
        if not 0.0 <= self.pre_event_s <= MAX_SECONDS:
            raise ValueError(f"pre_event_s must be within 0..{MAX_SECONDS:.0f}")
        if self.post_event_s < 0.0 or not 1.0 <= self.segment_s <= 3600.0:
            raise ValueError("post_event_s >= 0 and segment_s within 1..3600")


@dataclass(frozen=True)
class RecorderState:
    state: str                   # buffering, recording, post_event, error
    reason: str
    locked: bool
    recording_id: str
    triggers: tuple[str, ...]
    segment_index: int           # chain seq of the last closed item (0: none yet)
    segment_sha256: str
    storage: str                 # ok, low, full
    bytes_used: int
    bytes_free: int
    error: str


@dataclass
class _Recording:
    id: str
    reason: str
    locked: bool
    segment: SegmentFile | None = None
    # The segment before `segment`, still taking the audio that belongs before the cut: the AAC
    # encoder hands packets over one frame (64 ms at 16 kHz) after their samples.
    finishing: SegmentFile | None = None
    triggers: set[str] = field(default_factory=set)


class Recorder:
    def __init__(self, config: RecorderConfig, video: VideoSettings, store: EvidenceStore,
                 policy: retention.RetentionPolicy, *, officer_id: str,
                 clock: Callable[[], float] = time.time,
                 disk_free: Callable[[], int] = lambda: 1 << 62) -> None:
        self.config, self.video_settings, self.store, self.policy = config, video, store, policy
        self.officer_id, self._clock, self._disk_free = officer_id, clock, disk_free
        self._buffer = PreEventBuffer(config.pre_event_s)
        self._video: VideoEncoder | None = None
        self._audio: AudioEncoder | None = None
        self._recording: _Recording | None = None
        self._conditions: set[str] = set()
        self._officer_active = False
        self._hold_until = 0.0
        self._force_key = False
        self._error, self._error_at = "", -1e9
        self._last_entry: dict[str, Any] = {}
        self._storage = retention.OK      # audited only when it changes from here
        self._used = 0
        self.frames = 0
        self.refresh_storage()

    # --- inputs -----------------------------------------------------------------------------
    def on_frame(self, frame: np.ndarray, t: float) -> None:
        """One BGR frame (overlay burned in) taken at `t`."""
        size = (self.video_settings.height, self.video_settings.width)
        if frame.shape != (*size, 3):
            # Refused alone: a malformed frame must not end a recording (the caller counts it).
            raise ValueError(f"frame {frame.shape} does not match the camera's {size[1]}x{size[0]}")
        if self._video is None:
            self._video = VideoEncoder(self.video_settings)
        self.frames += 1
        self._update(t)
        rec = self._recording
        cut = bool(rec and rec.segment and self._segment_full(rec.segment, t))
        try:
            packets = self._video.encode(frame, t, keyframe=cut or self._force_key)
        except EncodingError as exc:
            self._fail(f"encoder: {exc}", t)
            return
        self._force_key = False
        for packet in packets:
            self._route(packet)

    def on_audio(self, samples: np.ndarray, sample_rate: int, channels: int, t: float) -> None:
        """A chunk of interleaved int16 PCM whose first sample was taken at `t`."""
        if self._audio is None or (self._audio.sample_rate, self._audio.channels) != (sample_rate, channels):
            if self._recording and self._recording.segment:
                return   # a new audio format starts with the next recording, not mid-file
            if self._audio is not None:
                self._audio.close()
            self._audio = AudioEncoder(sample_rate, channels)
        for packet in self._audio.encode(samples, t):
            self._route(packet)

    def set_condition(self, name: str, active: bool, now: float | None = None) -> None:
        """E-stop, siren or police light turned on or off."""
        if name not in CONDITIONS:
            raise ValueError(f"unknown condition {name!r}")
        now = self._clock() if now is None else now
        if active and name not in self._conditions:
            self._conditions.add(name)
            self._begin(CONDITIONS[name], name, lock=False, actor="recorder", now=now)
        elif not active and name in self._conditions:
            self._conditions.discard(name)
            self._hold_until = max(self._hold_until, now + self.config.post_event_s)

    def momentary(self, name: str, reason: str, now: float | None = None) -> None:
        """A sound event, a button press, a station verb: record for `post_event_s` from now."""
        now = self._clock() if now is None else now
        self._hold_until = max(self._hold_until, now + self.config.post_event_s)
        self._begin(reason, name, lock=False, actor=name, now=now)

    def start(self, reason: str, lock: bool, source: str) -> str:
        """The `record` request: recording until stopped. Returns the recording id."""
        now = self._clock()
        self._officer_active = True
        self._begin(reason or OFFICER, OFFICER, lock=lock, actor=source or "unknown", now=now)
        if self._recording is None:
            self._officer_active = False
            raise RecorderError("not_recording", self._error or "the recorder could not start")
        return self._recording.id

    def stop(self, source: str, reason: str = "") -> str:
        """End the officer's request. Raises RecorderError(locked | trigger_active | not_recording)."""
        rec = self._recording
        if rec is None:
            raise RecorderError("not_recording", "nothing is being recorded")
        if rec.locked and source not in LOCAL_SOURCES:
            raise RecorderError("locked", f"recording {rec.id} is locked: only the officer at the dog may stop it")
        self._officer_active, self._hold_until = False, 0.0
        if self._conditions:
            raise RecorderError("trigger_active", f"still recording: {', '.join(sorted(self._conditions))}")
        self._end(source or "unknown", reason or "stopped")
        return rec.id

    def snapshot(self, jpeg: bytes, t: float, reason: str, source: str) -> dict[str, Any]:
        """Keep a still (overlay burned in) like a segment: hashed, chained, signed."""
        rec = self._recording
        own = rec is None
        if rec is None:
            rec_id = self.store.start_recording(reason=f"snapshot: {reason}" if reason else "snapshot",
                                                locked=False, officer_id=self.officer_id,
                                                actor=source or "unknown", started_at=t)
        else:
            rec_id = rec.id
        path = self.store.new_item_path(rec_id, "snapshot")
        try:
            path.write_bytes(jpeg)
            entry = self.store.close_item(rec_id, path, "snapshot", t, t)
        finally:
            if own:
                self.store.end_recording(rec_id, source or "unknown", "snapshot taken")
        self.refresh_storage()
        return {**entry, "path": str(path), "recording": rec_id}

    # --- state ------------------------------------------------------------------------------
    def refresh_storage(self) -> str:
        """Apply retention and recompute the storage state (call every few seconds)."""
        try:
            for rec in retention.to_delete(self.store.recordings(), self.policy):
                self.store.delete(rec, f"quota: oldest released recording ({rec.bytes} bytes)")
            self._used = sum(r.bytes for r in self.store.recordings())
        except (OSError, StoreError) as exc:
            _LOGGER.error("retention: %s", exc)
        state = retention.storage_state(self._used, self._disk_free(), self.policy)
        if state != self._storage:
            self._audit("storage", "", f"storage {state}: {self._used} bytes used, quota "
                                       f"{self.policy.quota_bytes}")
        self._storage = state
        return state

    def status(self) -> RecorderState:
        rec = self._recording
        if self._error and self._clock() - self._error_at < RETRY_AFTER_ERROR_S * 4:
            state = "error"
        elif rec is None:
            state = "buffering" if self.config.pre_event_s > 0 else "idle"
        else:
            held = self._conditions or self._officer_active or self.config.continuous
            state = "recording" if held else "post_event"
        triggers = sorted(self._conditions | ({OFFICER} if self._officer_active else set()))
        return RecorderState(state, rec.reason if rec else "", bool(rec and rec.locked),
                              rec.id if rec else "", tuple(triggers),
                              int(self._last_entry.get("seq", 0)), str(self._last_entry.get("sha256", "")),
                              self._storage, self._used, self._disk_free(), self._error)

    def close(self) -> None:
        """Finish the open segment (a clean shutdown: the next start finds nothing to recover)."""
        if self._recording is not None:
            self._end("recorder", "recorder shut down")
        for encoder in (self._video, self._audio):
            if encoder is not None:
                encoder.close()

    # --- inside -----------------------------------------------------------------------------
    def _wanted(self, t: float) -> bool:
        return bool(self._conditions) or self._officer_active or t < self._hold_until \
            or (self.config.continuous and self._storage != retention.FULL)

    def _update(self, t: float) -> None:
        if self._recording is None and self.config.continuous and self._storage != retention.FULL:
            self._begin("continuous", "continuous", lock=False, actor="recorder", now=t)
        elif self._recording is not None and not self._wanted(t):
            self._end("recorder", "post-event time over")

    def _begin(self, reason: str, trigger: str, lock: bool, actor: str, now: float) -> None:
        rec = self._recording
        if rec is not None:
            rec.triggers.add(trigger)
            if lock and not rec.locked:
                rec.locked = True
                self.store.lock(rec.id, actor, reason)
            return
        if now - self._error_at < RETRY_AFTER_ERROR_S:
            return
        try:
            rec_id = self.store.start_recording(reason=reason, locked=lock, officer_id=self.officer_id,
                                                actor=actor, started_at=now)
        except (OSError, StoreError) as exc:
            self._fail(f"cannot start a recording: {exc}", now)
            return
        self._recording = _Recording(rec_id, reason, lock, triggers={trigger})
        self._error = ""
        backlog = self._buffer.drain()
        if not backlog:
            self._force_key = True     # no pre-event: the next frame opens the first segment
        for packet in backlog:
            self._route(packet)

    def _route(self, packet: EncodedPacket) -> None:
        rec = self._recording
        if rec is None:
            self._buffer.push(packet)
            return
        try:
            if packet.kind == "video" and packet.key and (
                    rec.segment is None or self._segment_full(rec.segment, packet.t)):
                self._finish(rec)
                rec.finishing = rec.segment if self._audio is not None else None
                if rec.finishing is None:
                    self._close_segment(rec)
                assert self._video is not None   # a video packet came from it
                rec.segment = SegmentFile(self.store.new_item_path(rec.id, "segment"), self._video,
                                          self._audio, packet.t)
            elif rec.finishing is not None and rec.segment is not None and (
                    packet.kind == "audio" and packet.t >= rec.segment.t0
                    or packet.t - rec.segment.t0 > AUDIO_LAG_S):
                self._finish(rec)      # the audio has caught up with the cut (or stopped)
            if packet.kind == "audio" and rec.finishing is not None and rec.segment is not None \
                    and packet.t < rec.segment.t0:
                rec.finishing.write(packet)
            elif rec.segment is not None:
                rec.segment.write(packet)
        except (EncodingError, StoreError, OSError) as exc:
            self._fail(f"segment: {exc}", packet.t)

    def _segment_full(self, segment: SegmentFile, t: float) -> bool:
        # Half a frame of slack: a frame due exactly at the boundary starts the next segment
        # whatever the float rounding of its timestamp.
        return t - segment.t0 >= self.config.segment_s - 0.5 / self.video_settings.fps

    def _finish(self, rec: _Recording) -> None:
        """Close the previous segment once no more of its audio can come."""
        finishing, rec.finishing = rec.finishing, None
        if finishing is not None:
            self._close_file(rec, finishing)

    def _close_segment(self, rec: _Recording) -> None:
        self._finish(rec)
        segment, rec.segment = rec.segment, None
        if segment is not None:
            self._close_file(rec, segment)

    def _close_file(self, rec: _Recording, segment: SegmentFile) -> None:
        try:
            segment.close()
        finally:
            # Hash what is on disk even when closing failed: a partial file is evidence too.
            self._last_entry = self.store.close_item(rec.id, segment.path, "segment", segment.t0, segment.end_t)

    def _end(self, actor: str, reason: str) -> None:
        rec, self._recording = self._recording, None
        if rec is None:
            return
        try:
            self._close_segment(rec)
        except (EncodingError, StoreError, OSError) as exc:
            self._error, self._error_at = f"closing {rec.id}: {exc}", self._clock()
        try:
            self.store.end_recording(rec.id, actor, reason)
        except (OSError, StoreError) as exc:
            self._error, self._error_at = f"ending {rec.id}: {exc}", self._clock()
        self._hold_until = 0.0
        self.refresh_storage()

    def _audit(self, action: str, recording: str, detail: str) -> None:
        try:
            self.store.audit.append("recorder", action, recording, detail)
        except OSError as exc:    # a full disk may refuse the audit line too: the log says so
            _LOGGER.error("audit log: %s (%s: %s)", exc, action, detail)

    def _fail(self, message: str, t: float) -> None:
        _LOGGER.error("recorder: %s", message)
        self._audit("error", self._recording.id if self._recording else "", message)
        self._error, self._error_at = message, t
        if self._recording is not None:
            self._end("recorder", f"error: {message}")
