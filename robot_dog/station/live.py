"""Live pushes to the station's pages: one WebSocket per page carries everything that changes
(telemetry, events, status, command results, talk state) as JSON text messages and video as
binary messages, newest frame wins, each tile at the size and rate the page asks for.

Threads and the loop: ingest runs on the MQTT thread and the relay is fed from there; the web
server runs on one asyncio loop. `LiveHub.row()` and the relay's listener are the only ways in
from other threads: each hands its item to the loop (`call_soon_threadsafe`), where every open
page's `Outbox` takes it. Rows are handed over in bursts: the first row of a burst wakes the
loop, the rows that follow before it runs join that wake-up (a fleet's telemetry is thousands of
rows a second; a wake-up per row cost the ingest thread a socket write and a GIL hand-over each).

Why nothing here grows with a slow client: an `Outbox` keeps the newest telemetry per dog and
the newest frame per subscribed tile (replaced, never queued) and at most `MAX_QUEUED` other
messages (the oldest dropped first, counted, and the page told how many it missed so it reloads
them from the JSON API). Its one sender task writes one message at a time; a client that does
not read makes that task wait, never the others, and the server's write deadline
(station/guarded_protocol.py) ends its connection.

Binary messages: 4-byte big-endian length of a JSON header, the header, then the data:
video: {"tile", "dog", "camera", "received", "seq", "factor"} and the JPEG (`factor`: reduced to
1/factor of the dog's frame for a tile that narrow, station/frame_scaling.py; a tile's `fps`
caps how often it is sent one: a wall of thumbnails at 5 fps beside a dog view at the camera's
rate, the page decodes what it shows); the dog's microphone while the
page listens: {"kind": "audio", "dog", "cursor", "rate"} and s16le mono PCM (at most
MAX_AUDIO_QUEUED chunks wait for a slow page, the oldest dropped).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from robot_dog.station.frame_scaling import ScaledFrames, Sized
from robot_dog.station.ingest import Frame
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import (AlarmAckRow, CommandRow, EventRow, ResultRow, Row, StatusRow,
                                       TelemetryRow)

_LOGGER = logging.getLogger(__name__)
#: JSON messages (events, statuses, results) kept for one page that has not taken them yet.
MAX_QUEUED = 500
#: Microphone chunks (about 0.1 s each) kept for one page that has not taken them yet.
MAX_AUDIO_QUEUED = 20
#: Video tiles one page may watch at once (a 3x3 wall plus a dog view).
MAX_TILES = 12
TILE_ID = r"[A-Za-z0-9_-]{1,16}"


#: A tile's width in device pixels, as a page may ask (0: the dog's frame as it came).
MAX_TILE_WIDTH = 8192
#: A tile's frame rate cap, as a page may ask (0: every frame).
MAX_TILE_FPS = 60.0


@dataclass(frozen=True)
class Tile:
    dog: str
    camera: str
    width: int = 0         # device pixels: the frame reduced to fill it (0: as it came)
    fps: float = 0.0       # at most this many frames a second (0: every frame)


def message_of(row: Row) -> dict[str, Any] | None:
    """The live message a stored row becomes (None: not shown live)."""
    if isinstance(row, TelemetryRow):
        return {"type": "telemetry", "dog": row.dog, "received": row.received, "doc": row.doc}
    if isinstance(row, EventRow):
        return {"type": "event", "dog": row.dog, "received": row.received, "doc": row.doc}
    if isinstance(row, StatusRow):
        return {"type": "status", "dog": row.dog, "status": row.status, "received": row.received}
    if isinstance(row, ResultRow):
        return {"type": "result", "dog": row.dog, "received": row.received, "doc": row.doc}
    if isinstance(row, AlarmAckRow):
        return {"type": "ack", "dog": row.dog, "event_id": row.event_id, "acked_by": row.acked_by,
                "acked_at": row.acked_at}
    if isinstance(row, CommandRow):
        return {"type": "command", "dog": row.dog, "nonce": row.nonce, "verb": row.verb,
                "args": row.args, "issuer": row.issuer, "issued_at": row.issued_at}
    return None


def video_message(tile: str, frame: Frame, seq: int, sized: Sized | None = None) -> bytes:
    sized = sized or Sized(frame.jpeg, 1)
    header = json.dumps({"tile": tile, "dog": frame.dog, "camera": frame.camera,
                         "received": frame.received, "seq": seq, "factor": sized.factor}).encode()
    return struct.pack(">I", len(header)) + header + sized.jpeg


def audio_message(dog: str, cursor: int, pcm: bytes, rate: int) -> bytes:
    header = json.dumps({"kind": "audio", "dog": dog, "cursor": cursor, "rate": rate}).encode()
    return struct.pack(">I", len(header)) + header + pcm


class Outbox:
    """What one page has not been sent yet; `next()` waits for the next message to send."""

    def __init__(self, relay: FrameRelay, scaled: ScaledFrames | None = None) -> None:
        self.relay = relay
        self.scaled = scaled or ScaledFrames()
        self.tiles: dict[str, Tile] = {}
        self._sent_seq: dict[str, int] = {}        # tile -> seq of the frame it last got
        self._due: dict[str, float] = {}           # tile -> when its fps lets it have the next
        self._telemetry: dict[str, dict[str, Any]] = {}   # dog -> newest, not sent yet
        self._queue: deque[dict[str, Any]] = deque()
        self._audio: deque[bytes] = deque(maxlen=MAX_AUDIO_QUEUED)   # newest kept
        self.dropped = 0                           # messages dropped since last told
        #: The dogs this page may see (an officer's paired dogs); None: every dog.
        self.dogs: frozenset[str] | None = None
        #: Such a page's own name: of the dogs' answers it takes only those to its own commands
        #: (another's, a commander's dispatch among them, name who sent what where); None: all.
        self.issuer: str | None = None
        self._wake = asyncio.Event()

    def sees(self, dog: object) -> bool:
        return self.dogs is None or dog in self.dogs

    def pushed(self, message: dict[str, Any]) -> None:
        """A live push for every page: taken only if it is about a dog this page may see
        (`"dog": None` is about no single dog, e.g. an incident: only for a page that sees every
        dog) and, for a limited page, if it is not an answer to someone else's command."""
        if not (self.sees(message.get("dog")) or "dog" not in message):
            return
        if (self.issuer is not None and message["type"] == "result"
                and message["doc"].get("issuer") != self.issuer):
            return
        self.put(message)

    def put(self, message: dict[str, Any]) -> None:
        """A message for this page (its own answers go here directly)."""
        if message["type"] == "telemetry":
            self._telemetry[message["dog"]] = message
        else:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(message)
        self._wake.set()

    def put_first(self, message: dict[str, Any]) -> None:
        """Sent before anything queued (the page's `hello`, whose snapshot the queued messages
        may update)."""
        self._queue.appendleft(message)
        self._wake.set()

    def put_audio(self, message: bytes) -> None:
        self._audio.append(message)
        self._wake.set()

    def frame_arrived(self, dog: str, camera: str) -> None:
        if any(t.dog == dog and t.camera == camera for t in self.tiles.values()):
            self._wake.set()

    def watch(self, tiles: dict[str, Tile]) -> None:
        tiles = {name: tile for name, tile in tiles.items() if self.sees(tile.dog)}
        self.tiles = tiles
        self._sent_seq = {t: s for t, s in self._sent_seq.items() if t in tiles}
        self._due = {t: d for t, d in self._due.items() if t in tiles}
        self._wake.set()

    async def next(self) -> str | bytes:
        while True:
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                return json.dumps({"type": "missed", "count": dropped})
            if self._queue:
                return json.dumps(self._queue.popleft())
            if self._audio:
                return self._audio.popleft()
            if self._telemetry:
                dog = next(iter(self._telemetry))
                return json.dumps(self._telemetry.pop(dog))
            now, wait = time.monotonic(), None
            for tile_id, tile in list(self.tiles.items()):
                seq, frame = self.relay.latest(tile.dog, tile.camera)
                if frame is None or seq == self._sent_seq.get(tile_id):
                    continue
                if (left := self._due.get(tile_id, 0.0) - now) > 0:    # its fps: not yet
                    wait = left if wait is None else min(wait, left)
                    continue
                self._sent_seq[tile_id] = seq
                if tile.fps > 0:
                    self._due[tile_id] = now + 1.0 / tile.fps
                if tile.width <= 0:
                    return video_message(tile_id, frame, seq)
                # a reduction takes milliseconds: off the loop the other pages share
                sized = await anyio.to_thread.run_sync(
                    self.scaled.get, tile.dog, tile.camera, seq, frame.jpeg, tile.width)
                return video_message(tile_id, frame, seq, sized)
            self._wake.clear()
            if wait is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)


class LiveHub:
    """The bridge from ingest's thread to the pages on the loop; also wakes MJPEG streams."""

    def __init__(self, relay: FrameRelay) -> None:
        self.relay = relay
        self.scaled = ScaledFrames()     # one reduction per frame and size for every page
        self.loop: asyncio.AbstractEventLoop | None = None
        self.outboxes: set[Outbox] = set()
        self._frame_events: dict[tuple[str, str], asyncio.Event] = {}
        self._cameras: set[tuple[str, str]] = set(relay.cameras())   # (dog, camera) announced
        self._lock = threading.Lock()
        self._handed: list[dict[str, Any]] = []   # pushed, not yet fanned out on the loop
        relay.add_listener(self._frame_from_thread)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    # from any thread
    def row(self, row: Row) -> None:
        message = message_of(row)
        if message is not None:
            self.push(message)

    def push(self, message: dict[str, Any]) -> None:
        if self.loop is None:
            return  # no server yet: no page to push to
        with self._lock:
            self._handed.append(message)
            first = len(self._handed) == 1
        if first and not self.call_soon(self._fanout_handed):
            with self._lock:
                self._handed.clear()   # the loop has stopped: nobody will take them

    def _frame_from_thread(self, frame: Frame) -> None:
        self.call_soon(self._frame, frame.dog, frame.camera)

    def call_soon(self, callback: Callable[..., None], *args: Any) -> bool:
        """Run `callback(*args)` on the loop (from any thread); dropped (False) once it has
        stopped."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
                return True
            except RuntimeError:
                pass  # the loop closed meanwhile: the server is stopping
        return False

    # on the loop
    def _fanout_handed(self) -> None:
        with self._lock:
            messages, self._handed = self._handed, []
        for message in messages:
            self._fanout(message)

    def _fanout(self, message: dict[str, Any]) -> None:
        for outbox in self.outboxes:
            outbox.pushed(message)

    def _frame(self, dog: str, camera: str) -> None:
        if (dog, camera) not in self._cameras:
            # A camera that sends its first frame after a page opened: the page learns of it
            # here (its `hello` listed the cameras known then) and subscribes its tile.
            self._cameras.add((dog, camera))
            self._fanout({"type": "camera", "dog": dog, "camera": camera})
        event = self._frame_events.pop((dog, camera), None)
        if event is not None:
            event.set()
        for outbox in self.outboxes:
            outbox.frame_arrived(dog, camera)

    async def newer_frame(self, dog: str, camera: str, seq: int,
                          timeout_s: float) -> tuple[int, Frame | None]:
        """The newest frame of a camera once it is newer than `seq` (or after `timeout_s`)."""
        new_seq, frame = self.relay.latest(dog, camera)
        if new_seq > seq:
            return new_seq, frame
        event = self._frame_events.setdefault((dog, camera), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        return self.relay.latest(dog, camera)
