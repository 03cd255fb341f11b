"""Events of the dog (schema `event`): ids, and the detectors that turn state changes into events.

Pure: inputs are plain values and `now` (s since the Unix epoch). Events go through the outbox
(QoS 1, at least once), so every event carries an id unique per dog that the station
deduplicates on: a random boot id (so ids never repeat across restarts) plus a counter.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from robot_dog.mqtt.schema import SchemaError, strict_loads
from robot_dog.alarm_policy import BATTERY_CRITICAL, BATTERY_WARNING, SEVERITIES, severity_of

SCHEMA_VERSION = 1


@dataclass
class EventFactory:
    dog: str
    boot: str = field(default_factory=lambda: secrets.token_hex(4))
    count: int = 0

    def make(self, now: float, type_: str, severity: str, message: str = "",
             data: dict[str, Any] | None = None) -> dict[str, Any]:
        self.count += 1
        doc: dict[str, Any] = {"v": SCHEMA_VERSION, "dog": self.dog, "ts": now,
                               "id": f"{self.boot}-{self.count}", "type": type_,
                               "severity": severity}
        if message:
            doc["message"] = message[:512]
        if data:
            doc["data"] = data
        return doc


@dataclass
class EstopWatch:
    """An event on every change of the e-stop state (not on every state message). Its severity
    is the station's alarm policy's (robot_dog/alarm_policy.py), as for every event."""
    engaged: bool | None = None

    def update(self, engaged: bool, reason: str) -> tuple[str, str, str] | None:
        """(severity, message, reason) on a change, else None. The first state is a change only
        if it is engaged (starting released is not news)."""
        before, self.engaged = self.engaged, engaged
        if before == engaged or (before is None and not engaged):
            return None
        severity = severity_of("estop", {"engaged": engaged})
        if engaged:
            return severity, f"e-stop engaged: {reason}"[:512], reason
        return severity, "e-stop released", reason


@dataclass
class LowBattery:
    """Low-battery alarm with hysteresis: one event when the level falls below each of `levels`
    (the alarm policy's warning and critical levels: a fall through both at once is one event),
    each re-armed `margin` above its level (a voltage hovering at a level must not flood the
    station)."""
    levels: tuple[float, ...] = (BATTERY_WARNING, BATTERY_CRITICAL)
    margin: float = 0.05
    below: set[float] = field(default_factory=set)   # levels fallen below and not re-armed

    def update(self, percentage: float) -> bool:
        self.below -= {level for level in self.below if percentage > level + self.margin}
        crossed = {level for level in self.levels if percentage < level} - self.below
        self.below |= crossed
        return bool(crossed)


#: The ways a goal ends, each told to the station once (their severities: the alarm policy's
#: `goal.*` kinds; an e-stop that ends a goal has its own event too).
GOAL_ENDINGS = ("arrived", "cancelled", "preempted", "estop", "blocked", "timed_out", "refused")


@dataclass
class GoalWatch:
    """One event when a goal ends (arrived, blocked, ...), not on every goal state message."""
    last: tuple[str, str] | None = None   # (label, state) of the newest message

    def update(self, label: str, state: str, detail: str) -> tuple[str, str] | None:
        """(severity, message) when `label` has just ended, else None. The first state heard is
        no news (a latched ending heard again after the uplink restarted)."""
        before, self.last = self.last, (label, state)
        if state not in GOAL_ENDINGS or before is None or before == (label, state):
            return None
        return severity_of("goal", {"state": state}), f"{label}: {state}" + (f" ({detail})" if detail else "")


#: Events that teleop_node hands to the uplink on `teleop/events` (std_msgs/String, one JSON
#: object each: {"type", "severity", "message", "data"}): an action from the officer's phone
#: (`handheld`: data {officer, kind, code}) and the officer's answer to a task (`officer_task`:
#: data {incident, officer, state}, the shape the station's incidents take in).
FORWARDED_TYPES = ("handheld", "officer_task")
MAX_FORWARDED_BYTES = 2048


def forwarded(text: str) -> tuple[str, str, str, dict[str, Any]]:
    """(type, severity, message, data) of a `teleop/events` message, or ValueError: only the
    forwarded types, bounded, with flat data (strings, numbers, booleans)."""
    try:
        doc = strict_loads(text.encode("utf-8", "surrogatepass"), MAX_FORWARDED_BYTES, "teleop/events")
    except SchemaError as exc:
        raise ValueError(exc.reason) from None
    if not isinstance(doc, dict) or set(doc) - {"type", "severity", "message", "data"}:
        raise ValueError("an event is an object of type, severity, message and data")
    type_, severity = doc.get("type"), doc.get("severity", "info")
    message, data = doc.get("message", ""), doc.get("data", {})
    if type_ not in FORWARDED_TYPES or severity not in SEVERITIES:
        raise ValueError(f"not a forwarded event: type {str(type_)[:32]!r}, severity {str(severity)[:16]!r}")
    if not isinstance(message, str) or not isinstance(data, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in data.values()):
        raise ValueError("message is text and data a flat object")
    return type_, severity, message, data
