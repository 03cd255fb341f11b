"""A node's timer that fires when the node says it is next needed, not at a fixed rate.

Each executor wake costs rclpy 0.4-0.8 ms of Python before any callback runs
(docs/BENCHMARKS.md, CPU at rest), so a timer that polls at 20-50 Hz for deadlines that are
seconds away spends the CPU of a dog at rest. A paced timer is one rclpy timer whose period is
changed and which is reset when the next wake must come at another time than its own period
would bring it: after each of its callbacks (`after_tick`) and whenever an event brings a
deadline nearer. It never fires later than asked; it may fire up to `SLACK_S` earlier (keeping a
periodic timer's phase rather than re-arming it every period, since a reset wakes the executor
once more).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node

#: A timer that fires at most this much before the asked time is left as it is, s.
SLACK_S = 0.005
#: The shortest delay armed, s (a deadline already past: at once).
MIN_DELAY_S = 0.001


class PacedTimer:
    def __init__(self, node: Node, first_s: float, callback: Callable[[], Any],
                 callback_group: Any = None) -> None:
        self._node = node
        self._timer = node.create_timer(first_s, callback, callback_group=callback_group)
        self.due = self._now() + first_s   # node clock, s: when it fires next

    def _now(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def arm(self, delay_s: float, after_tick: bool = False) -> None:
        """Fire next `delay_s` from now. After an event (not `after_tick`) an armed timer that
        fires sooner anyway is kept; after its own callback one that fires within SLACK_S before
        is kept too."""
        now = self._now()
        due = now + max(delay_s, MIN_DELAY_S)
        left_ns = self._timer.time_until_next_call()
        armed = now + left_ns * 1e-9 if left_ns is not None else float("inf")
        if armed <= due and (not after_tick or armed >= due - SLACK_S):
            self.due = armed
            return
        self._timer.timer_period_ns = int((due - now) * 1e9)
        self._timer.reset()
        self.due = due
