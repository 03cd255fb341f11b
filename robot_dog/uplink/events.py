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
    """An event on every change of the e-stop state (not on every state message)."""
    engaged: bool | None = None

    def update(self, engaged: bool, reason: str) -> tuple[str, str, str] | None:
        """(severity, message, reason) on a change, else None. The first state is a change only
        if it is engaged (starting released is not news)."""
        before, self.engaged = self.engaged, engaged
        if before == engaged or (before is None and not engaged):
            return None
        if engaged:
            return "critical", f"e-stop engaged: {reason}"[:512], reason
        return "info", "e-stop released", reason


@dataclass
class LowBattery:
    """Low-battery alarm with hysteresis: one event when falling below `low`, re-armed above
    `clear` (a voltage hovering at the threshold must not flood the station)."""
    low: float = 0.20
    clear: float = 0.25
    armed: bool = True

    def update(self, percentage: float) -> bool:
        if self.armed and percentage < self.low:
            self.armed = False
            return True
        if not self.armed and percentage > self.clear:
            self.armed = True
        return False


#: How each way a goal ends is told to the station: severity (an e-stop has its own event).
GOAL_ENDINGS = {"arrived": "info", "cancelled": "info", "preempted": "info", "estop": "warning",
                "blocked": "critical", "timed_out": "warning", "refused": "warning"}


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
        return GOAL_ENDINGS[state], f"{label}: {state}" + (f" ({detail})" if detail else "")


#: Events that teleop_node hands to the uplink on `teleop/events` (std_msgs/String, one JSON
#: object each: {"type", "severity", "message", "data"}): an action from the officer's phone
#: (`handheld`: data {officer, kind, code}) and the officer's answer to a task (`officer_task`:
#: data {incident, officer, state}, the shape the station's incidents take in).
FORWARDED_TYPES = ("handheld", "officer_task")
SEVERITIES = ("info", "warning", "critical")
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
