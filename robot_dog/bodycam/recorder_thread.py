"""The recorder's own thread: ROS callbacks hand frames and requests over and never wait.

Frames and audio go through a bounded queue: when encoding falls behind, new frames are dropped
and counted (`dropped`), never queued without bound, and the camera's callbacks never block.
Requests (record, stop, snapshot, condition changes) run on the same thread, after the frames
queued before them (a stop keeps every frame taken before it), so the Recorder sees one caller
in one order; each returns a concurrent Future that the caller may await. Requests are never
dropped (they are rare and small).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np

from robot_dog.bodycam.recorder import Recorder, RecorderState
from robot_dog.log_rate import worth_a_line

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

STORAGE_CHECK_S = 5.0


class RecorderThread:
    def __init__(self, make_recorder: Callable[[], Recorder], queue_frames: int = 25) -> None:
        self._make = make_recorder
        self._frames: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=queue_frames)
        self._requests: queue.Queue[tuple[Callable[[Recorder], Any], Future[Any], int]] = queue.Queue()
        self._order = threading.Lock()
        self._queued = 0      # frames and chunks queued so far
        self._taken = 0       # of those, taken by the recorder's thread
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.dropped = 0
        self.failures = 0     # frames or chunks the recorder raised on (malformed input)
        self.status: RecorderState | None = None
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def put_frame(self, frame: np.ndarray, t: float) -> bool:
        """Queue a frame (not copied: the caller must not change it after). False: dropped."""
        return self._put(("frame", frame, t))

    def put_audio(self, samples: np.ndarray, sample_rate: int, channels: int, t: float) -> bool:
        return self._put(("audio", samples, sample_rate, channels, t))

    def _put(self, item: tuple[Any, ...]) -> bool:
        with self._order:
            try:
                self._frames.put_nowait(item)
            except queue.Full:
                self.dropped += 1
                return False
            self._queued += 1
        self._wake.set()
        return True

    def call(self, job: Callable[[Recorder], T]) -> Future[T]:
        """Run `job(recorder)` on the recorder's thread; the Future carries its result or error."""
        future: Future[T] = Future()
        if not self._thread.is_alive():    # the recorder could not start, or was closed
            future.set_exception(RuntimeError(self.error or "recorder stopped"))
            return future
        with self._order:
            self._requests.put((job, future, self._queued))
        self._wake.set()
        return future

    def close(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            recorder = self._make()
        except Exception as exc:      # reported in status and diagnostics, never raised
            _LOGGER.exception("recorder cannot start")
            self.error = f"recorder cannot start: {exc}"
            self._fail_requests()
            return
        next_check = time.monotonic() + STORAGE_CHECK_S
        try:
            while not self._stop.is_set():
                self._wake.wait(0.5)
                self._wake.clear()
                self._drain(recorder)
                if time.monotonic() >= next_check:
                    recorder.refresh_storage()
                    next_check = time.monotonic() + STORAGE_CHECK_S
                self.status = recorder.status()
            self._drain(recorder)
        finally:
            recorder.close()
            self.status = recorder.status()
            self._fail_requests()

    def _drain(self, recorder: Recorder) -> None:
        pending: tuple[Callable[[Recorder], Any], Future[Any], int] | None = None
        while True:
            if pending is None:
                try:
                    pending = self._requests.get_nowait()
                except queue.Empty:
                    pass
            if pending is not None and self._taken >= pending[2]:
                job, future, _ = pending
                pending = None
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(job(recorder))
                    except Exception as exc:  # noqa: BLE001  (the caller gets it through the future)
                        future.set_exception(exc)
                self.status = recorder.status()
                continue
            try:
                item = self._frames.get_nowait()
            except queue.Empty:
                if pending is not None:   # its frames are gone (cannot happen): run it anyway
                    self._taken = pending[2]
                    continue
                return
            self._taken += 1
            try:
                if item[0] == "frame":
                    recorder.on_frame(item[1], item[2])
                else:
                    recorder.on_audio(*item[1:])
            except Exception as exc:  # a bad frame or chunk must not end recording (logged below)
                self.failures += 1
                self.error = f"{item[0]} refused: {exc}"
                if worth_a_line(self.failures):
                    _LOGGER.exception("recorder: %s (%d so far)", self.error, self.failures)

    def _fail_requests(self) -> None:
        while True:
            try:
                _job, future, _ = self._requests.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError(self.error or "recorder stopped"))
