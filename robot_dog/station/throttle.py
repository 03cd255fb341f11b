"""Wrong-token throttle for the station's HTTP API (pure: time comes in as `now`, s).

Why: the operator token is 192 random bits, so guessing is hopeless, but an unthrottled API
answers hundreds of guesses per second and says nothing about it. Policy: `max_failures`
wrong tokens within `window_s` lock that client out for `lockout_s` (doubling with each
lockout in a row, up to `max_lockout_s`); while locked out every attempt, right or wrong, is
refused without looking at the token (so a guess during a lockout tells nothing). A right
token outside a lockout clears the client's record.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)
    locked_until: float = float("-inf")
    lockouts: int = 0


@dataclass
class TokenThrottle:
    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 30.0
    max_lockout_s: float = 900.0
    max_clients: int = 1024          # bounded memory: the oldest records go first
    _clients: dict[str, _Client] = field(default_factory=dict)

    def retry_after(self, client: str, now: float) -> float:
        """Seconds this client must wait (0: it may try now)."""
        record = self._clients.get(client)
        return 0.0 if record is None else max(0.0, record.locked_until - now)

    def failed(self, client: str, now: float) -> float:
        """A wrong token from `client`; returns the lockout that starts now (0: none)."""
        record = self._clients.pop(client, None) or _Client()
        self._clients[client] = record  # most recent last
        while len(self._clients) > self.max_clients:
            del self._clients[next(iter(self._clients))]
        record.failures = [t for t in record.failures if now - t < self.window_s] + [now]
        if len(record.failures) < self.max_failures:
            return 0.0
        lockout = min(self.lockout_s * 2 ** record.lockouts, self.max_lockout_s)
        record.lockouts += 1
        record.failures.clear()
        record.locked_until = now + lockout
        return lockout

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)
