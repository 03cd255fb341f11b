"""Twist arbitration in the manner of ROS twist_mux (pure; `now` in seconds from any monotonic clock).

Inputs have a priority and a timeout: an input is live while its last command is younger than
its timeout. Locks have a priority too: an engaged lock blocks every input of equal or lower
priority; a lock with a timeout also engages when its publisher goes quiet (twist_mux: a lock
must keep saying "unlocked"). The live, unblocked input with the highest priority wins. Every
change of the winner is reported with its reason (`changes()`); refusals are the caller's
(twist.py) and never reach the mux. The inputs and locks themselves are data: one YAML file in
twist_mux's format (`robot_dog/config/twist_mux.yaml`, read by `load_mux_config`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_dog.safety.twist import Twist

#: What counts as a fresh deliberate action for an input after a stop (interlock.py).
RESTART_KINDS = ("neutral", "resume")
DEFAULT_MUX_CONFIG = Path(__file__).resolve().parent.parent / "config" / "twist_mux.yaml"


@dataclass(frozen=True)
class InputSpec:
    name: str
    priority: int       # higher wins
    timeout_s: float = 0.5
    topic: str = ""     # relative ROS topic (geometry_msgs/Twist)
    restart: str = "neutral"  # RESTART_KINDS: re-centre the stick, or wait for motion/resume


@dataclass(frozen=True)
class LockSpec:
    name: str
    priority: int       # blocks inputs with priority <= this
    timeout_s: float = 0.0  # 0: never lapses; else quiet for longer = engaged
    topic: str = ""     # std_msgs/Bool topic; the `estop` lock is the node's own e-stop


def _spec_fields(kind: str, name: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{kind} {name!r}: expected a mapping, got {entry!r}")
    allowed = {"topic", "timeout", "priority"} | ({"restart"} if kind == "topic" else set())
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"{kind} {name!r}: unknown keys {sorted(unknown)}")
    topic, timeout, priority = entry.get("topic"), entry.get("timeout"), entry.get("priority")
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"{kind} {name!r}: topic must be a non-empty string")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ValueError(f"{kind} {name!r}: timeout must be a number >= 0, got {timeout!r}")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 255:
        raise ValueError(f"{kind} {name!r}: priority must be an integer 0..255, got {priority!r}")
    fields = {"name": name, "topic": topic, "timeout_s": float(timeout), "priority": priority}
    if kind == "topic":
        if timeout <= 0:
            raise ValueError(f"input {name!r}: timeout must be above 0")
        restart = entry.get("restart", "neutral")
        if restart not in RESTART_KINDS:
            raise ValueError(f"input {name!r}: restart must be one of {RESTART_KINDS}, got {restart!r}")
        fields["restart"] = restart
    return fields


def parse_mux_config(doc: Any) -> tuple[tuple[InputSpec, ...], tuple[LockSpec, ...]]:
    """Inputs and locks of a twist_mux YAML document (with or without the
    `<node>: ros__parameters:` wrapper); ValueError saying what is wrong."""
    if isinstance(doc, dict) and len(doc) == 1:
        (only,) = doc.values()
        if isinstance(only, dict) and "ros__parameters" in only:
            doc = only["ros__parameters"]
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), dict) or not doc["topics"]:
        raise ValueError("a twist_mux config needs a non-empty `topics` mapping")
    locks = doc.get("locks") or {}
    if not isinstance(locks, dict):
        raise ValueError("`locks` must be a mapping")
    inputs = tuple(InputSpec(**_spec_fields("topic", str(n), e)) for n, e in doc["topics"].items())
    lock_specs = tuple(LockSpec(**_spec_fields("lock", str(n), e)) for n, e in locks.items())
    TwistMux(inputs, lock_specs)  # names unique, priorities distinct
    return inputs, lock_specs


def load_mux_config(path: Path = DEFAULT_MUX_CONFIG) -> tuple[tuple[InputSpec, ...], tuple[LockSpec, ...]]:
    """Inputs and locks from a twist_mux YAML file."""
    return parse_mux_config(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


ESTOP_LOCK = LockSpec("estop", 255, topic="estop")


@dataclass
class _Input:
    spec: InputSpec
    twist: Twist | None = None
    stamp: float = float("-inf")

    def live(self, now: float) -> bool:
        return self.twist is not None and now - self.stamp <= self.spec.timeout_s


@dataclass
class _Lock:
    spec: LockSpec
    locked: bool = False
    stamp: float | None = None   # None: never heard

    def engaged(self, now: float) -> bool:
        if self.locked:
            return True
        if self.spec.timeout_s > 0 and self.stamp is not None:
            return now - self.stamp > self.spec.timeout_s
        return False


@dataclass(frozen=True)
class Selection:
    winner: str | None   # None: no live input may drive
    twist: Twist | None
    reason: str


@dataclass
class TwistMux:
    inputs: tuple[InputSpec, ...]
    locks: tuple[LockSpec, ...] = (ESTOP_LOCK,)
    _inputs: dict[str, _Input] = field(init=False)
    _locks: dict[str, _Lock] = field(init=False)
    _winner: str | None = field(init=False, default=None)
    _changes: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        names = [s.name for s in self.inputs] + [s.name for s in self.locks]
        if len(set(names)) != len(names):
            raise ValueError(f"input and lock names must be unique: {names}")
        priorities = [s.priority for s in self.inputs]
        if len(set(priorities)) != len(priorities):
            raise ValueError(f"input priorities must differ (a tie has no winner): {priorities}")
        self._inputs = {s.name: _Input(s) for s in self.inputs}
        self._locks = {s.name: _Lock(s) for s in self.locks}

    def offer(self, name: str, twist: Twist, now: float) -> None:
        """A checked command from input `name` at `now`."""
        entry = self._inputs.get(name)
        if entry is None:
            raise KeyError(f"no input {name!r}; known: {', '.join(self._inputs)}")
        entry.twist, entry.stamp = twist, now

    def forget_inputs(self) -> None:
        """Drop every input's last command (after an e-stop, only fresh commands drive)."""
        for entry in self._inputs.values():
            entry.twist, entry.stamp = None, float("-inf")

    def set_lock(self, name: str, locked: bool, now: float) -> None:
        entry = self._locks[name]
        entry.locked, entry.stamp = locked, now

    def blocking_priority(self, now: float) -> int | None:
        """Highest priority among engaged locks (inputs at or below it are blocked), or None."""
        engaged = [lk.spec.priority for lk in self._locks.values() if lk.engaged(now)]
        return max(engaged) if engaged else None

    def any_live(self, now: float) -> bool:
        """Whether an input's last command is younger than its timeout."""
        return any(i.live(now) for i in self._inputs.values())

    def next_lapse(self, now: float) -> float | None:
        """When the next lock with a timeout engages by its publisher's silence (None: no such
        lock is heard and unlocked now)."""
        due = [lk.stamp + lk.spec.timeout_s for lk in self._locks.values()
               if lk.spec.timeout_s > 0 and lk.stamp is not None and not lk.engaged(now)]
        return min(due) if due else None

    def select(self, now: float) -> Selection:
        """The winning input at `now`; a change of winner is recorded with its reason."""
        block = self.blocking_priority(now)
        live = [i for i in self._inputs.values() if i.live(now)]
        allowed = [i for i in live if block is None or i.spec.priority > block]
        if allowed:
            best = max(allowed, key=lambda i: i.spec.priority)
            selection = Selection(best.spec.name, best.twist, f"{best.spec.name} is the highest "
                                  f"live input (priority {best.spec.priority})")
        elif live:
            locks = [lk.spec.name for lk in self._locks.values() if lk.engaged(now)]
            selection = Selection(None, None, f"locked by {', '.join(locks)}")
        else:
            selection = Selection(None, None, "no live input")
        if selection.winner != self._winner:
            self._changes.append(f"winner {self._winner or 'none'} -> {selection.winner or 'none'}: "
                                 f"{selection.reason}")
            self._winner = selection.winner
        return selection

    def changes(self) -> list[str]:
        """Winner changes since the last call, oldest first (for the log)."""
        out, self._changes = self._changes, []
        return out


#: The dog's inputs (handheld > gamepad > keyboard > station > patrol) and locks, from the YAML.
DEFAULT_INPUTS, DEFAULT_LOCKS = load_mux_config()
