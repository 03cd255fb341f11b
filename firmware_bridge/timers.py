"""Deadlines, periodic schedules and watchdogs as small explicit objects driven by a clock value.

Nothing here reads a clock: callers pass `now` (seconds, monotonic), so tests use a fake clock.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Deadline:
    """A point in time after which something has lapsed."""
    at: float

    @classmethod
    def after(cls, now: float, seconds: float) -> "Deadline":
        return cls(now + seconds)

    def expired(self, now: float) -> bool:
        return now >= self.at

    def remaining(self, now: float) -> float:
        return max(0.0, self.at - now)


class Periodic:
    """Something due every `period` s (heartbeats, telemetry). Missed periods are not replayed."""

    def __init__(self, period: float, now: float) -> None:
        if period <= 0:
            raise ValueError("period must be > 0")
        self.period = period
        self.next_at = now

    def due(self, now: float) -> bool:
        """True once per period; re-arms from `now` so a stall does not cause a burst."""
        if now < self.next_at:
            return False
        self.next_at += self.period
        if self.next_at <= now:
            self.next_at = now + self.period
        return True


class Watchdog:
    """Expires when not kicked for `timeout` s. Starts expired until the first kick."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.timeout = timeout
        self.last_kick: float | None = None

    def kick(self, now: float) -> None:
        self.last_kick = now

    def expired(self, now: float) -> bool:
        return self.last_kick is None or now - self.last_kick >= self.timeout

    def age(self, now: float) -> float | None:
        """Seconds since the last kick, None if never kicked."""
        return None if self.last_kick is None else now - self.last_kick

    @property
    def deadline(self) -> float | None:
        return None if self.last_kick is None else self.last_kick + self.timeout
