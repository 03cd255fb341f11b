"""Wrong-token throttle for the station's HTTP API (pure: time comes in as `now`, s).

Why: the operator token is 192 random bits, so guessing is hopeless, but an unthrottled API
answers the same wrong token (a stale one in a script, a guesser's) as often as it is sent.
Policy, per `key` = the credential presented (the HTTP server passes an HMAC of it, never a
client address: everyone behind a proxy, and every local client, is 127.0.0.1, and a lockout
by address let anyone lock the operator out): `max_failures` failures within `window_s` lock
that credential out for `lockout_s` (doubling with each lockout in a row, up to
`max_lockout_s`); while locked out it is refused without being checked. The right credential
never fails, so no one else's wrong tries can lock it out. Success clears its record.
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
