"""The safety node's own stalls, told apart from its inputs' silence (pure; times in s).

rclpy's executor serves a ready timer before ready subscriptions and services. After the node
itself stalled (not scheduled, its thread waiting for the GIL or the disk), its tick therefore
ran first and judged every input and check-in late although they were waiting in its own
queues: a false "missed its deadline" hold and a false watchdog zero (both seen with telemetry
fresh). A tick that comes more than `late_s` after the previous one (a paced tick, pace.py: more
than `late_s` after one fast period before it was due) ends a stall: deadlines are
not judged on it, but on the next tick, one period later, after the queued messages were
served. At most one tick in a row is deferred, so a node that is late on every tick (a
saturated machine) still judges every other tick: a real silence is caught at most one tick
later, and only right after a stall of the node itself, during which it could not act anyway.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StallGuard:
    late_s: float = 0.1          # a tick this long after the previous one ends a stall, s
    stalls: int = 0              # stalls seen
    worst_s: float = 0.0         # the longest gap between two ticks, s
    _last: float | None = None
    _deferred: bool = False

    def __post_init__(self) -> None:
        if not self.late_s > 0:
            raise ValueError(f"late_s must be > 0, got {self.late_s}")

    def tick(self, now: float, since: float | None = None) -> float:
        """0.0: judge deadlines now. Else the stall that just ended (s since the previous
        tick, or since `since`): serve what is queued first, judge on the next tick.

        `since`: when the period this tick ends began, for a tick whose period varies (pace.py:
        the instant it was due minus one fast period); by default the previous tick."""
        # The first tick is never a stall (the executor starts after the node is built).
        gap = 0.0 if self._last is None else now - (self._last if since is None else since)
        self._last = now
        if gap <= self.late_s:
            self._deferred = False
            return 0.0
        self.stalls += 1
        self.worst_s = max(self.worst_s, gap)
        if self._deferred:          # late again: judge now, never defer twice in a row
            self._deferred = False
            return 0.0
        self._deferred = True
        return gap


@dataclass(frozen=True)
class CpuMark:
    """What this process had used at one instant: the spinning thread's and the whole
    process's CPU time (s), the thread's voluntary and involuntary context switches, and how
    long the thread had been runnable but waiting for a CPU (the kernel's schedstat). Taken at
    every tick (a few microseconds), so a stall can say where its time went."""
    thread_s: float
    process_s: float
    waits: int          # voluntary switches: the thread blocked (a lock, the GIL, I/O, a sleep)
    preempted: int      # involuntary switches: the scheduler took the CPU away
    queued_s: float = 0.0  # runnable, waiting for a CPU (woken but not yet scheduled, or preempted)


def where_it_went(before: CpuMark, after: CpuMark, gap_s: float) -> str:
    """One line for the stall's log: was the thread busy, another thread of the process busy
    (holding the GIL), or the process not running at all (not scheduled, or blocked)?"""
    own = after.thread_s - before.thread_s
    others = max(0.0, after.process_s - before.process_s - own)
    return (f"in those {gap_s:.3f} s this thread ran {own:.3f} s, the node's other threads "
            f"{others:.3f} s; the thread waited {after.waits - before.waits} times, was "
            f"preempted {after.preempted - before.preempted} times and queued for a CPU "
            f"{after.queued_s - before.queued_s:.3f} s")
