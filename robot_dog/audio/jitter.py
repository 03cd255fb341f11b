"""Jitter buffer for live voice (pure): chunks by sequence number in, a steady sample stream out.

Policy, with no clock inside (the mixer pulls one frame every 20 ms, which is the clock):
- playback of a talk spurt starts once `prefill` samples are buffered (latency vs. underruns);
- chunks play in sequence order; a duplicate or a chunk older than what already played is
  dropped (counted);
- a missing chunk is given up (counted lost, skipped: no concealment beyond silence) when
  `reorder_window` later chunks are waiting, or when the buffer runs dry and later ones exist;
- latency is bounded: when more than `max_pending` samples wait (chunks came in a burst, or
  the speaker fell behind after underruns: each inserts silence and delays what follows), the
  oldest are dropped down to `prefill` (counted as trimmed). Below that bound the delay only
  shrinks at the end of a talk spurt (re-prefill); a gentler catch-up (dropping 1 ms per frame)
  is not done yet;
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


class JitterBuffer:
    def __init__(self, prefill: int = 960, reorder_window: int = 3, hangover: int = 15,
                 max_chunks: int = 50, max_pending: int = 9600) -> None:
        self.prefill = prefill
        self.max_pending = max_pending    # samples (200 ms at 48 kHz)
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

    @property
    def active(self) -> bool:
        return self._playing or self._idle_pulls < self.hangover

    def push(self, sequence: int, samples: np.ndarray) -> bool:
        """Add one chunk (float32 at RATE_HZ); False when it was dropped."""
        sequence %= SEQ_MOD
        if self._next is None or (not self.active and not self._waiting and not self._pending.size):
            self._next = sequence                      # a new talk spurt
            self._recent.clear()
        if sequence in self._waiting or sequence in self._recent:
            self.stats.duplicate += 1
            return False
        if seq_diff(sequence, self._next) < 0:
            self.stats.late += 1
            return False
        if len(self._waiting) >= self.max_chunks:
            self.stats.overflow += 1
            return False
        self._waiting[sequence] = np.asarray(samples, dtype=np.float32)
        self._recent.append(sequence)
        self._gather()
        return True

    def pull(self, n: int) -> np.ndarray | None:
        """The next `n` samples, or None while nothing is (yet) to be played."""
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
        if self._pending.size > self.max_pending:
            drop = self._pending.size - self.prefill
            self._pending = self._pending[drop:]
            self.stats.trimmed += drop
        out = np.zeros(n, dtype=np.float32)
        take = min(n, self._pending.size)
        out[:take] = self._pending[:take]
        self._pending = self._pending[take:]
        if take < n and not self._waiting:            # spurt over (or a pause): re-prefill
            self._playing = False
            self._idle_pulls = 0
            if take == 0:
                return None
        return out

    def _gather(self) -> None:
        """Move in-order chunks from `_waiting` to the pending samples."""
        assert self._next is not None or not self._waiting
        while self._waiting:
            if self._next in self._waiting:
                chunk = self._waiting.pop(self._next)
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
