"""Jitter buffer for live voice (pure): chunks by sequence number in, a steady sample stream out.

Policy, with no clock inside (the mixer pulls one frame every 20 ms, which is the clock):
- playback of a talk spurt starts once `prefill` samples are buffered (latency vs. underruns);
- chunks play in sequence order; a duplicate or a chunk older than what already played is
  dropped (counted);
- a missing chunk is given up (counted lost, skipped: no concealment beyond silence) when
  `reorder_window` later chunks are waiting, or when the buffer runs dry and later ones exist;
- delay that builds up is shed where it cannot be heard: the speaker falling behind (each
  device underrun on a loaded machine plays silence and delays everything after it by as much)
  or a burst of late chunks leaves more than `prefill` samples waiting; when more than
  `prefill + shed_above` would still wait after the frame being played, quiet frame-sized
  stretches of what waits (peak below `quiet_peak`: a pause between words, or the silence a
  talker's app sends) are dropped, oldest first, down to that (counted as shed); voice is never
  shed. Before, this delay stayed until the 200 ms bound below or the end of the spurt, and
  every stall added to it;
- latency is bounded: when more than `max_pending` samples still wait (a long stall with no
  pause to shed), the oldest are dropped down to `prefill` (counted as trimmed), voiced or not;
- the source stays active `hangover` pulls after the last sample, so the mixer does not pump
  the ducking of lower sources between words; after that the next chunk starts a new spurt
  with its own sequence (a new talker may start anywhere). Sequences are uint32 and wrap.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SEQ_MOD = 1 << 32


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space (wrapping uint32), in -2^31..2^31-1."""
    return (a - b + (SEQ_MOD >> 1)) % SEQ_MOD - (SEQ_MOD >> 1)


@dataclass
class JitterStats:
    played: int = 0
    late: int = 0
    duplicate: int = 0
    lost: int = 0
    overflow: int = 0
    trimmed: int = 0            # samples dropped to bound the latency
    shed: int = 0               # quiet samples dropped to bring the delay back to its target


class JitterBuffer:
    """After each `pull`, `started` lists (sequence, offset) of the chunks whose first sample is
    in the frame just returned, and `discarded` (sequence, reason) those whose first sample was
    shed or trimmed: what a trace needs to time each chunk through the buffer."""

    def __init__(self, prefill: int = 960, reorder_window: int = 3, hangover: int = 15,
                 max_chunks: int = 50, max_pending: int = 9600, shed_above: int = 960,
                 quiet_peak: float = 0.0056) -> None:
        self.prefill = prefill
        self.max_pending = max_pending    # samples (200 ms at 48 kHz)
        self.shed_above = shed_above      # samples over `prefill` tolerated before shedding
        self.quiet_peak = quiet_peak      # -45 dBFS: below it a frame is a pause
        self.reorder_window = reorder_window
        self.hangover = hangover
        self.max_chunks = max_chunks
        self.stats = JitterStats()
        self._waiting: dict[int, np.ndarray] = {}
        self._next: int | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._playing = False
        self._idle_pulls = hangover   # start idle
        self._recent: deque[int] = deque(maxlen=64)  # accepted sequences, to tell duplicates
        self._head = 0                # running index of _pending[0]
        self._starts: deque[tuple[int, int]] = deque()  # (running index, sequence) in _pending
        self.started: list[tuple[int, int]] = []
        self.discarded: list[tuple[int, str]] = []
        self.refusal = ""             # why the last refused push was refused

    @property
    def active(self) -> bool:
        return self._playing or self._idle_pulls < self.hangover

    @property
    def holds_sound(self) -> bool:
        """Samples wait to be pulled: a spurt not started yet, or chunks behind a missing one."""
        return bool(self._pending.size or self._waiting)

    def push(self, sequence: int, samples: np.ndarray) -> bool:
        """Add one chunk (float32 at RATE_HZ); False when it was dropped."""
        sequence %= SEQ_MOD
        if self._next is None or (not self.active and not self._waiting and not self._pending.size):
            self._next = sequence                      # a new talk spurt
            self._recent.clear()
        if sequence in self._waiting or sequence in self._recent:
            self.stats.duplicate += 1
            self.refusal = "duplicate"
            return False
        if seq_diff(sequence, self._next) < 0:
            self.stats.late += 1
            self.refusal = "late"
            return False
        if len(self._waiting) >= self.max_chunks:
            self.stats.overflow += 1
            self.refusal = "overflow"
            return False
        self._waiting[sequence] = np.asarray(samples, dtype=np.float32)
        self._recent.append(sequence)
        self._gather()
        return True

    def pull(self, n: int) -> np.ndarray | None:
        """The next `n` samples, or None while nothing is (yet) to be played."""
        self.started, self.discarded = [], []
        self._gather()
        if not self._playing:
            if self._pending.size >= self.prefill:
                self._playing = True
            else:
                self._idle_pulls += 1
                return None
        if self._pending.size < n and self._waiting:
            self._skip_to_oldest()                    # ran dry while later chunks wait
            self._gather()
        if self._pending.size - n > self.prefill + self.shed_above:
            self._shed_quiet(n, keep=self.prefill + self.shed_above + n)
        if self._pending.size > self.max_pending:
            drop = self._pending.size - self.prefill
            self._drop(drop, "trimmed")
            self.stats.trimmed += drop
        out = np.zeros(n, dtype=np.float32)
        take = min(n, self._pending.size)
        out[:take] = self._pending[:take]
        while self._starts and self._starts[0][0] < self._head + take:
            index, sequence = self._starts.popleft()
            self.started.append((sequence, index - self._head))
        self._pending = self._pending[take:]
        self._head += take
        if take < n and not self._waiting:            # spurt over (or a pause): re-prefill
            self._playing = False
            self._idle_pulls = 0
            if take == 0:
                return None
        return out

    def _shed_quiet(self, window: int, keep: int) -> None:
        """Drop quiet `window`-sized stretches of the pending samples, oldest first, until at
        most `keep` samples (rounded to windows) wait."""
        count = self._pending.size // window
        peaks = np.max(np.abs(self._pending[: count * window].reshape(count, window)), axis=1)
        quiet = np.flatnonzero(peaks < self.quiet_peak)[: (self._pending.size - keep) // window]
        if not quiet.size:
            return
        kept = np.ones(self._pending.size, dtype=bool)
        for q in quiet:
            kept[q * window:(q + 1) * window] = False
        removed_before = np.concatenate([[0], np.cumsum(~kept)])   # dropped before each index
        starts: deque[tuple[int, int]] = deque()
        for index, sequence in self._starts:
            at = min(index - self._head, kept.size)
            if at < kept.size and not kept[at]:
                self.discarded.append((sequence, "shed"))
            else:
                starts.append((index - int(removed_before[at]), sequence))
        self._starts = starts
        self._pending = self._pending[kept]
        self.stats.shed += quiet.size * window

    def _drop(self, count: int, reason: str) -> None:
        """Drop the oldest `count` pending samples."""
        self._pending = self._pending[count:]
        self._head += count
        while self._starts and self._starts[0][0] < self._head:
            self.discarded.append((self._starts.popleft()[1], reason))

    def _gather(self) -> None:
        """Move in-order chunks from `_waiting` to the pending samples."""
        assert self._next is not None or not self._waiting
        while self._waiting:
            if self._next in self._waiting:
                chunk = self._waiting.pop(self._next)
                self._starts.append((self._head + self._pending.size, self._next))
                self._pending = np.concatenate([self._pending, chunk])
                self._next = (self._next + 1) % SEQ_MOD
                self.stats.played += 1
            elif len(self._waiting) >= self.reorder_window:
                self._skip_to_oldest()
            else:
                break

    def _skip_to_oldest(self) -> None:
        expected = self._next
        assert expected is not None
        oldest = min(self._waiting, key=lambda s: seq_diff(s, expected))
        self.stats.lost += seq_diff(oldest, expected)
        self._next = oldest
