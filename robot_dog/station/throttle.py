"""Failure throttle with doubling lockouts, per key (pure: time comes in as `now`, s).

Used by the station's logins (robot_dog/station/accounts/access.py), once per account name and
once per client address. Policy, per `key`: `max_failures` failures within `window_s` lock that
key out for `lockout_s` (doubling with each lockout in a row, up to `max_lockout_s`); while
locked out the caller refuses without checking anything. Success clears the key's record.
Bounded: at most `max_keys` records, the oldest dropped first.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = float("-inf")
    lockouts: int = 0


@dataclass
class TokenThrottle:
    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 30.0
    max_lockout_s: float = 900.0
    max_keys: int = 1024             # bounded memory: the oldest records go first
    _records: dict[str, _Record] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds this credential must wait (0: it may be tried now)."""
        record = self._records.get(key)
        return 0.0 if record is None else max(0.0, record.locked_until - now)

    def failed(self, key: str, now: float) -> float:
        """The credential `key` was wrong; returns the lockout that starts now (0: none)."""
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recent last
        while len(self._records) > self.max_keys:
            del self._records[next(iter(self._records))]
        record.failures = [t for t in record.failures if now - t < self.window_s] + [now]
        if len(record.failures) < self.max_failures:
            return 0.0
        lockout = min(self.lockout_s * 2.0 ** record.lockouts, self.max_lockout_s)
        record.lockouts += 1
        record.failures.clear()
        record.locked_until = now + lockout
        return lockout

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)
