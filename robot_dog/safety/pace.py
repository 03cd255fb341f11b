"""When the safety node's tick runs next (pure; times in s on the node's clock).

The tick fills in what no input brings: ramps, the watchdog's zero, the held zero's repeat,
the endpoints' check-in deadlines, the settle-time sit, a lock's lapse. While anything can move
(an input heard within its timeout, an output not zero, a watchdog zero still to publish) it
runs every `tick_s` (50 Hz), as it always did: the watchdog's "zero within 0.5 s of silence"
rests on it. While nothing can move (held, or every input quiet and the output zero) a tick at
50 Hz finds nothing to do; each wake still costs rclpy's executor 0.4-0.8 ms
(docs/BENCHMARKS.md). Then the tick comes when something is due: at each deadline (the earliest
endpoint's, the settle time, a lock's lapse) `after_s` past it, so it is judged when it falls due
rather than up to one tick later, and at least every `rest_s` (the held zero's repeat and the
refresh of `motion/state`). Any input wakes the node as before, and the node asks for the fast
tick again at once (`SafetyNode._pace`). A deadline inside the next fast period is judged at it
too (the watchdog's expiry above all: its zero then comes `watchdog_s` after the last command
plus `after_s`, where a 50 Hz poll found it up to one period late).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class TickPace:
    tick_s: float = 0.02     # while anything can move, s
    rest_s: float = 0.5      # at most this long between ticks while nothing can, s
    #: A deadline is judged this long after it: the cores call an entry late when `now - last`
    #: is strictly above its timeout, so a tick exactly on it would find nothing late yet.
    after_s: float = 0.001

    def __post_init__(self) -> None:
        if not 0 < self.after_s < self.tick_s <= self.rest_s:
            raise ValueError("need 0 < after_s < tick_s <= rest_s, got "
                             f"{self.after_s}, {self.tick_s}, {self.rest_s}")

    def next_tick(self, now: float, moving: bool, deadlines: Iterable[float | None] = ()) -> float:
        """When the next tick is due: the earliest deadline (`after_s` past it, at once for one
        already past), and never later than one fast period on while anything can move, or
        `rest_s` from now while nothing can."""
        due = now + (self.tick_s if moving else self.rest_s)
        for deadline in deadlines:
            if deadline is not None:
                due = min(due, max(deadline, now) + self.after_s)
        return due
