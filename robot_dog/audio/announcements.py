"""The announcement queue (pure): priority, repeat, cancel, and each item's state.

Items are rendered audio (float32 mono at RATE_HZ, already loudness-normalised and scaled by
their volume). Order: higher priority first, first come first served within one priority. A
playing item finishes (or is cancelled) before the next starts: cutting a sentence in half helps
nobody; urgent messages go to the mixer's safety channel, a queue of its own. Repeats are
separated by `gap_s` of silence. States: queued -> playing -> done | cancelled.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from robot_dog.audio.devices import RATE_HZ
from robot_dog.payload.errors import RequestRefused


class State(str, Enum):
    QUEUED = "queued"
    PLAYING = "playing"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass
class Announcement:
    id: int
    audio: np.ndarray
    priority: int
    plays: int                      # total times to play (>= 1)
    label: str
    state: State = State.QUEUED
    played: int = 0                 # samples played of all plays
    reason: str = ""                # why it was cancelled
    _order: int = field(default=0, repr=False)

    @property
    def total(self) -> int:
        return self.plays * len(self.audio)

    @property
    def progress(self) -> float:
        return min(1.0, self.played / self.total) if self.total else 1.0


@dataclass(frozen=True)
class Status:
    state: State
    position: int                   # 0 = playing (or finished), 1 = next, ...
    progress: float                 # 0..1
    reason: str = ""


class AnnouncementQueue:
    def __init__(self, max_queued: int = 32, gap_s: float = 1.0, keep_finished: int = 64) -> None:
        self.max_queued = max_queued
        self.gap = int(gap_s * RATE_HZ)
        self.keep_finished = keep_finished
        self._ids = itertools.count(1)
        self._items: OrderedDict[int, Announcement] = OrderedDict()
        self._current: Announcement | None = None
        self._gap_left = 0

    def submit(self, audio: np.ndarray, priority: int = 0, repeat: int = 0,
               label: str = "") -> int:
        """Queue rendered audio; its id. `repeat` extra plays after the first (0 = once)."""
        if audio.size == 0:
            raise RequestRefused("nothing to play (empty audio)")
        if len(self._queued()) >= self.max_queued:
            raise RequestRefused(f"announcement queue full ({self.max_queued} waiting)")
        item = Announcement(next(self._ids), np.asarray(audio, np.float32), int(priority),
                            1 + max(0, int(repeat)), label)
        item._order = item.id
        self._items[item.id] = item
        self._prune()
        return item.id

    def cancel(self, item_id: int, reason: str = "cancelled") -> bool:
        """Stop or unqueue an item; False when it is unknown or already finished."""
        item = self._items.get(item_id)
        if item is None or item.state in (State.DONE, State.CANCELLED):
            return False
        item.state, item.reason = State.CANCELLED, reason
        if item is self._current:
            self._current, self._gap_left = None, 0
        return True

    def status(self, item_id: int) -> Status | None:
        item = self._items.get(item_id)
        if item is None:
            return None
        position = 0
        if item.state is State.QUEUED:
            position = 1 + self._queued().index(item)
        return Status(item.state, position, item.progress, item.reason)

    def cancel_playing(self, reason: str) -> int | None:
        """Cancel the item now playing (its sound could not be delivered); its id."""
        if self._current is None:
            return None
        item_id = self._current.id
        self.cancel(item_id, reason)
        return item_id

    def cancel_all(self, reason: str) -> list[int]:
        """Cancel everything playing or waiting (nothing can be heard now); their ids."""
        ids = [i.id for i in self._items.values() if i.state in (State.QUEUED, State.PLAYING)]
        for item_id in ids:
            self.cancel(item_id, reason)
        return ids

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._queued())

    def render(self, n: int) -> np.ndarray | None:
        """The next `n` samples, or None when nothing is playing or waiting."""
        if self._current is None and not self._start_next():
            return None
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        while filled < n and self._current is not None:
            item = self._current
            if self._gap_left:
                step = min(self._gap_left, n - filled)
                self._gap_left -= step
                filled += step
                continue
            offset = item.played % len(item.audio)
            step = min(len(item.audio) - offset, n - filled)
            out[filled:filled + step] = item.audio[offset:offset + step]
            item.played += step
            filled += step
            if item.played >= item.total:
                item.state = State.DONE
                self._current = None
                self._start_next()
            elif item.played % len(item.audio) == 0:
                self._gap_left = self.gap
        return out

    def _queued(self) -> list[Announcement]:
        waiting = [i for i in self._items.values() if i.state is State.QUEUED]
        return sorted(waiting, key=lambda i: (-i.priority, i._order))

    def _start_next(self) -> bool:
        queued = self._queued()
        if not queued:
            return False
        self._current = queued[0]
        self._current.state = State.PLAYING
        return True

    def _prune(self) -> None:
        finished = [k for k, i in self._items.items() if i.state in (State.DONE, State.CANCELLED)]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._items[key]
