"""Restart interlock (pure): after any stop, an input drives again only on a fresh deliberate action.

IEC 60204-1 asks that resetting a stop must not by itself restart the machine. Here every stop
(an e-stop engaged or released, a lock, a watchdog lapse, a handheld let-go that hands control
back down) disarms the inputs it concerns, and each input's own kind (`restart` in the mux
YAML) says what re-arms it:

- `neutral` (a stick: handheld, gamepad, keyboard, station joystick): seen at neutral (a zero
  command), then deflected anew. A stick already at neutral when the stop happens (its last
  command was zero, or it never spoke) stays armed: its next deflection is itself fresh. A stick
  still deflected (an officer holding it through an e-stop, a client frozen mid-drive whose
  buffered frames arrive later) must be re-centred first. A frame is judged by when its sender
  sent it, where the input is stamped: a deflection sent before a stop and heard after it (a
  release that overtook the stick's frame on its way) was held through the stop. A deflection
  heard while the base cannot walk (sitting after a category 1 stop) still counts as heard.
- `resume` (autonomous: patrol, dispatch): paused until `resume(name)` (the station or the
  officer, through the `motion/resume` service). It is also paused when a higher input takes
  control, so control never falls back to it by itself when that input goes quiet.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from robot_dog.safety.errors import Refused
from robot_dog.safety.mux import InputSpec
from robot_dog.safety.twist import Twist


@dataclass
class _Input:
    spec: InputSpec
    armed: bool
    neutral: bool | None = None   # was its last command zero? None: never heard
    stopped_at: float = float("-inf")   # the last stop that concerned it (the core's clock)


@dataclass
class Interlock:
    inputs: tuple[InputSpec, ...]
    _state: dict[str, _Input] = field(init=False)
    _log: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        # A stick that never spoke is not held; an autonomous input starts paused.
        self._state = {s.name: _Input(s, armed=s.restart == "neutral") for s in self.inputs}

    def frame(self, name: str, twist: Twist, sent_at: float | None = None) -> None:
        """A checked command from `name`: a zero re-arms a stick. `sent_at`: when its sender sent
        it (None: now); one sent before the last stop is judged as if heard before it."""
        state = self._state[name]
        state.neutral = twist.is_zero
        if sent_at is not None and sent_at < state.stopped_at:
            # Older than the stop: it can only say the stick was held through it, never re-arm.
            if state.spec.restart == "neutral" and not twist.is_zero and state.armed:
                state.armed = False
                self._log.append(f"interlock: {name} deflected before the stop, heard after it: "
                                 "it waits for its stick back at neutral")
            return
        if twist.is_zero and not state.armed and state.spec.restart == "neutral":
            state.armed = True
            self._log.append(f"interlock: {name} at neutral: it may drive again")

    def may_drive(self, name: str) -> bool:
        return self._state[name].armed

    def disarm(self, names: Iterable[str], why: str, now: float) -> None:
        """A stop at `now` concerning `names`: each waits for its own deliberate action."""
        for name in names:
            state = self._state[name]
            state.stopped_at = max(state.stopped_at, now)
            was = state.armed
            state.armed = state.spec.restart == "neutral" and state.neutral is not False
            if was and not state.armed:
                action = ("its stick back at neutral" if state.spec.restart == "neutral"
                          else "motion/resume")
                self._log.append(f"interlock: {name} waits for {action} ({why})")

    def lapse(self, name: str, now: float) -> None:
        """`name` fell silent while it was the winner. Mid-drive (its last command moved the dog)
        that is a stop like any other; after its own zero (a let-go, a goal that ended) it is no
        stop at all: it stopped the dog itself, and stays armed."""
        if self._state[name].neutral is not True:
            self.disarm([name], "watchdog lapse", now)

    def disarm_all(self, why: str, now: float) -> None:
        self.disarm(self._state, why, now)

    def disarm_below(self, priority: int, why: str, now: float, kind: str | None = None) -> None:
        """Disarm inputs of `priority` or lower (of restart `kind` only, when given)."""
        self.disarm([n for n, s in self._state.items() if s.spec.priority <= priority
                     and (kind is None or s.spec.restart == kind)], why, now)

    def resume(self, name: str) -> str:
        """The deliberate action of an autonomous input; Refused with a code otherwise."""
        state = self._state.get(name)
        if state is None:
            raise Refused(f"no input named {name!r}; known: {', '.join(self._state)}",
                          "unknown_input")
        if state.spec.restart != "resume":
            raise Refused(f"{name} is a stick: it resumes by returning to neutral, then "
                          "deflecting again", "not_resumable")
        if state.armed:
            return f"{name} already resumed"
        state.armed = True
        self._log.append(f"interlock: {name} resumed")
        return f"{name} resumed"

    def waiting(self) -> tuple[str, ...]:
        """Inputs that wait for a deliberate action (for motion/state)."""
        return tuple(n for n, s in self._state.items() if not s.armed)

    def take_log(self) -> list[str]:
        out, self._log = self._log, []
        return out
