"""Telemetry aggregation: the latest value of each ROS input, sampled into one JSON document.

Pure: the node feeds `update_*` from its subscriptions and calls `snapshot(now)` on its timer.
Fields that were never received are absent rather than zero, so the station can tell "no
battery data" from "battery empty"; each field carries its age so stale data is visible.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class TelemetryState:
    dog: str
    seq: int = 0
    _fields: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def update(self, name: str, value: Any, now: float) -> None:
        """Remember `value` as the latest `name` (e.g. "battery", "pose"), received at `now` (s)."""
        self._fields[name] = (now, value)

    def snapshot(self, now: float) -> dict[str, Any]:
        """The telemetry document at `now`: every known field with its age in seconds."""
        self.seq += 1
        doc: dict[str, Any] = {"v": SCHEMA_VERSION, "dog": self.dog, "seq": self.seq, "ts": now}
        for name, (stamp, value) in self._fields.items():
            doc[name] = value
            doc.setdefault("age_s", {})[name] = round(max(0.0, now - stamp), 3)
        return doc


class RateGate:
    """Newest-wins rate limit for video: at most `max_hz` sends, never a backlog.

    A frame that arrives too early is not queued; the next frame after the interval is sent.
    """

    def __init__(self, max_hz: float) -> None:
        if max_hz <= 0:
            raise ValueError(f"max_hz must be > 0, got {max_hz}")
        self.interval_s = 1.0 / max_hz
        self._last: float | None = None

    def admit(self, now: float) -> bool:
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True
