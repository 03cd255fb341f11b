"""The safety tick's pace (robot_dog/safety/pace.py) on a fake clock: 50 Hz while anything can
move, at each deadline and every 0.5 s while nothing can; every deadline, the watchdog's expiry
among them, is judged when it falls due."""
from __future__ import annotations

import heapq
from collections.abc import Callable

import pytest

from robot_dog.safety.estop import EstopCore
from robot_dog.safety.motion import MotionConfig, MotionCore
from robot_dog.safety.mux import DEFAULT_INPUTS, ESTOP_LOCK, LockSpec
from robot_dog.safety.pace import TickPace
from robot_dog.safety.stall import StallGuard
from robot_dog.safety.twist import ZERO

PACE = TickPace(tick_s=0.02, rest_s=0.5)


def test_fast_while_moving_else_the_earliest_deadline_or_the_rest_period():
    assert PACE.next_tick(10.0, moving=True, deadlines=(10.3,)) == pytest.approx(10.02)
    # A deadline inside the fast period is judged at it, not at the period's end.
    assert PACE.next_tick(10.0, moving=True, deadlines=(None, 10.011)) == pytest.approx(10.012)
    assert PACE.next_tick(10.0, moving=False) == pytest.approx(10.5)
    assert PACE.next_tick(10.0, moving=False, deadlines=(None, 10.3, 10.4)) == pytest.approx(10.301)
    assert PACE.next_tick(10.0, moving=False, deadlines=(11.0,)) == pytest.approx(10.5)
    assert PACE.next_tick(10.0, moving=False, deadlines=(9.0,)) == pytest.approx(10.001)  # overdue: now


def test_pace_must_be_ordered():
    for bad in ({"tick_s": 0.0}, {"rest_s": 0.01}, {"after_s": 0.02}):
        with pytest.raises(ValueError):
            TickPace(**bad)


def test_at_rest_only_with_the_output_zero_and_every_input_quiet():
    core = MotionCore()
    assert core.at_rest(0.0)
    core.command("handheld", (0.0, 0, 0), (0, 0, 0), 1.0)       # a stick at neutral: live
    core.step(1.0)
    assert not core.at_rest(1.0) and not core.at_rest(1.45)
    for t in (1.02, 1.42, 1.44):
        core.step(t)
    assert not core.at_rest(1.49)         # the input's 0.5 s timeout is not over yet
    core.step(1.52)
    assert core.at_rest(1.52)


def test_not_at_rest_until_the_watchdogs_zero_is_out():
    core = MotionCore()
    core.command("handheld", (0.0, 0, 0), (0, 0, 0), 0.0)
    core.step(0.0)
    core.command("handheld", (0.4, 0, 0), (0, 0, 0), 0.02)    # a deflection after neutral
    assert core.step(0.02) != ZERO
    t = 0.04
    while not core.at_rest(t):
        core.step(t)
        t = round(t + 0.02, 6)
        assert t < 2.0
    assert core.output == ZERO
    assert any("watchdog" in line for line in core.take_log())


def test_held_at_zero_is_rest_but_a_controlled_stop_in_progress_is_not():
    core = MotionCore()
    core.command("handheld", (0.0, 0, 0), (0, 0, 0), 0.0)
    core.step(0.0)
    core.command("handheld", (0.5, 0, 0), (0, 0, 0), 0.02)
    for i in range(2, 40):
        core.command("handheld", (0.5, 0, 0), (0, 0, 0), i * 0.02)
        core.step(i * 0.02)
    core.set_estop(True, 1, 0.8)                 # controlled: decelerates over several ticks
    core.command("handheld", (0.5, 0, 0), (0, 0, 0), 0.8)
    assert not core.output.is_zero and not core.at_rest(0.8)
    t = 0.8
    while not core.output.is_zero:
        t = round(t + 0.02, 6)
        core.step(t)
    assert core.at_rest(t)                       # held at zero: nothing moves, inputs or not


def test_the_settle_time_and_a_locks_lapse_are_deadlines():
    lock = LockSpec("pause", 200, timeout_s=1.0, topic="motion/pause")
    core = MotionCore(MotionConfig(inputs=DEFAULT_INPUTS, locks=(ESTOP_LOCK, lock)))
    assert core.next_deadline(0.0) is None
    core.set_lock("pause", False, 3.0)
    assert core.next_deadline(3.0) == pytest.approx(4.0)
    assert core.next_deadline(4.5) is None           # lapsed: engaged now, no deadline left
    core.set_estop(True, 0, 5.0)
    core.step(5.0)
    assert core.next_deadline(5.0) == pytest.approx(5.0 + core.config.settle_s)
    assert core.settle_due(5.0 + core.config.settle_s) == "sit"
    assert core.next_deadline(8.0) is None


def test_the_watchdogs_expiry_is_a_deadline_until_its_zero_is_out():
    core = MotionCore()
    core.command("handheld", (0.0, 0, 0), (0, 0, 0), 0.0)
    core.step(0.0)
    core.command("handheld", (0.4, 0, 0), (0, 0, 0), 0.02)    # driving
    assert core.step(0.02) != ZERO
    assert core.next_deadline(0.03) == pytest.approx(0.42)
    assert core.step(0.42) != ZERO                             # not yet: the core's `>`
    assert core.step(0.421) == ZERO                            # just after it: the zero
    assert core.next_deadline(0.421) is None                   # out: nothing pending
    core.set_estop(True, 0, 1.0)                               # held at zero: an input that
    core.command("patrol", (0.3, 0, 0), (0, 0, 0), 1.1)        # keeps publishing wakes no tick
    core.step(1.1)
    assert core.next_deadline(1.1) == pytest.approx(1.0 + core.config.settle_s)


def test_a_paced_tick_judges_stalls_from_when_it_was_due():
    guard = StallGuard(late_s=0.1)
    guard.tick(0.0)
    assert guard.tick(0.5, since=0.48) == 0.0          # a rest tick on time
    assert guard.tick(1.2, since=0.98) == pytest.approx(0.22)  # 0.2 s late: a stall
    assert guard.tick(1.22, since=1.2) == 0.0


class PacedNode:
    """The safety node's loop without ROS: the cores, a 50 Hz tick or the paced one, and inputs
    (commands, check-ins) that wake it as the executor does."""

    def __init__(self, paced: bool) -> None:
        self.motion, self.estop, self.paced = MotionCore(), EstopCore(), paced
        self.ticks: list[float] = []
        self.zeros: list[float] = []
        self.holds: list[tuple[float, str]] = []
        self.sits: list[float] = []
        self.due = 0.02

    def _pace(self, now: float, after_tick: bool) -> None:
        if not self.paced:
            if after_tick:
                self.due = now + PACE.tick_s
            return
        due = PACE.next_tick(now, not self.motion.at_rest(now), (
            self.estop.next_deadline(), self.motion.next_deadline(now)))
        self.due = due if after_tick else min(self.due, due)

    def _apply(self, now: float) -> None:
        status = self.estop.status()
        self.motion.set_estop(status.engaged, status.category, now)

    def tick(self, now: float) -> None:
        self.ticks.append(now)
        self.holds += [(now, event) for event in self.estop.tick(now)]
        self._apply(now)
        if self.motion.step(now) == ZERO:
            self.zeros.append(now)
        if self.motion.settle_due(now):
            self.sits.append(now)
        self._pace(now, after_tick=True)

    def command(self, now: float, vx: float) -> None:
        self.motion.command("handheld", (vx, 0, 0), (0, 0, 0), now)
        self.motion.step(now)
        self._pace(now, after_tick=False)

    def check_in(self, now: float, endpoint: str, timeout_s: float) -> None:
        self.estop.check_in(endpoint, timeout_s, now)
        self._apply(now)
        self._pace(now, after_tick=False)

    def run(self, events: list[tuple[float, Callable[[], None]]], end: float) -> None:
        queue = [(t, i, f) for i, (t, f) in enumerate(events)]
        heapq.heapify(queue)
        while True:
            if queue and queue[0][0] <= self.due:
                _, _, act = heapq.heappop(queue)
                act()
            elif self.due <= end:
                self.tick(round(self.due, 9))
            else:
                return


def scenario(node: PacedNode) -> list[tuple[float, Callable[[], None]]]:
    """A station that checks in every 0.5 s from 1 s to 5 s (2 s deadline: due at 7 s); a
    handheld paired at 1.9 s that checks in every 0.15 s until 3.85 s (0.5 s deadline: due at
    4.35 s) and drives from 2 s to 3 s, then lets go (the watchdog's zero)."""
    events: list[tuple[float, Callable[[], None]]] = []
    for i in range(9):
        t = 1.0 + i * 0.5
        events.append((t, lambda t=t: node.check_in(t, "station", 2.0)))
    for i in range(14):
        t = round(1.9 + i * 0.15, 6)
        events.append((t, lambda t=t: node.check_in(t, "handheld", 0.5)))
    for i in range(51):
        t = round(2.0 + i * 0.02, 6)
        events.append((t, lambda t=t: node.command(t, 0.0 if t < 2.04 else 0.3)))
    return events


def first_hold(node: PacedNode, endpoint: str) -> float:
    return min(t for t, why in node.holds if why.startswith(f"{endpoint} missed"))


def test_paced_ticks_keep_every_deadline_and_the_watchdog_with_far_fewer_wakes():
    fixed, paced = PacedNode(paced=False), PacedNode(paced=True)
    for node in (fixed, paced):
        node.run(scenario(node), end=20.0)
    # Each endpoint's hold comes at its own expiry (within the 1 ms the core's `>` needs),
    # never later than on the 50 Hz tick.
    for endpoint, deadline in (("handheld", 3.85 + 0.5), ("station", 5.0 + 2.0)):
        assert deadline < first_hold(paced, endpoint) <= deadline + 0.002
        assert first_hold(paced, endpoint) <= first_hold(fixed, endpoint)
    # The handheld's last frame at 3.0 s: its watchdog zero comes at the watchdog's expiry
    # (within the 1 ms the core's `>` needs), where the 50 Hz tick found it up to 20 ms late.
    zero_fixed = min(t for t in fixed.zeros if t > 3.0)
    zero_paced = min(t for t in paced.zeros if t > 3.0)
    watchdog = paced.motion.config.watchdog_s
    assert 3.0 + watchdog < zero_paced <= 3.0 + watchdog + 0.002
    assert zero_paced <= zero_fixed
    # The settle-time sit, 2 s after the first full hold (the handheld's).
    held = first_hold(paced, "handheld")
    assert paced.sits and held + 2.0 <= paced.sits[0] <= held + 2.0 + 0.002
    assert paced.sits[0] <= fixed.sits[0]
    # At rest (before the handheld pairs; held after the last deadline): a tick per 0.5 s and
    # per deadline at most, where the 50 Hz tick woke 25 times as often.
    assert len([t for t in paced.ticks if t < 1.9]) <= 1.9 / 0.5 + 2
    assert len([t for t in fixed.ticks if t < 1.9]) >= 90
    assert len([t for t in paced.ticks if t > 7.1]) <= 12.9 / 0.5 + 2
