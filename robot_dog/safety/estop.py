"""Multi-endpoint heartbeat e-stop (pure; `now` in seconds from any monotonic clock).

Endpoints (handheld, station, MCU, a hardware button through the payload MCU) join by checking
in with a timeout and keep checking in. Policy, declared rather than accidental:

- an endpoint that misses its deadline holds the e-stop with a controlled stop (category 1:
  the base decelerates to zero, then holds);
- an engage request holds it with an immediate stop (category 0: zero velocity at once). An
  engage is never refused, whoever asks;
- each holder releases only its own hold, only by an explicit release, and a stale endpoint must
  check in again first; `ADMIN` releases every hold and forgets stale endpoints. The e-stop is engaged while any hold remains;
- checking in with timeout 0 leaves cleanly (no longer watched, its own stale hold stays).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from robot_dog.safety.errors import Refused

ADMIN = "admin"
#: Endpoint timeouts accepted at check-in, s (shorter is jitter, longer is no watch at all).
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.05, 10.0
IMMEDIATE, CONTROLLED = 0, 1   # stop categories (IEC 60204-1 style numbering)


@dataclass(frozen=True)
class Hold:
    endpoint: str
    category: int
    reason: str


@dataclass(frozen=True)
class EstopStatus:
    engaged: bool
    category: int | None        # None when released; the strictest (lowest) of the holds
    reason: str
    holds: tuple[Hold, ...]
    endpoints: tuple[str, ...]
    stale: tuple[str, ...]


@dataclass
class _Endpoint:
    timeout_s: float
    last: float
    stale: bool = False


@dataclass
class EstopCore:
    known: tuple[str, ...] = ("handheld", "station", "mcu", "button")
    _endpoints: dict[str, _Endpoint] = field(init=False, default_factory=dict)
    _holds: dict[str, Hold] = field(init=False, default_factory=dict)

    def _check_name(self, endpoint: str) -> None:
        if endpoint not in self.known:
            raise Refused(f"unknown e-stop endpoint {endpoint!r}; known: {', '.join(self.known)}")

    def check_in(self, endpoint: str, timeout_s: float, now: float) -> str:
        """Register or refresh `endpoint`; timeout 0 leaves. Returns what happened, or Refused."""
        self._check_name(endpoint)
        if not isinstance(timeout_s, (int, float)) or not math.isfinite(timeout_s):
            raise Refused(f"timeout_s {timeout_s!r} is not a finite number")
        if timeout_s == 0:
            self._endpoints.pop(endpoint, None)
            return f"{endpoint} left (no longer watched)"
        if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
            raise Refused(f"timeout_s {timeout_s:g} outside [{MIN_TIMEOUT_S:g}, {MAX_TIMEOUT_S:g}] s")
        entry = self._endpoints.get(endpoint)
        joined = entry is None
        self._endpoints[endpoint] = _Endpoint(timeout_s, now)
        return f"{endpoint} {'joined' if joined else 'checked in'} (deadline {timeout_s:g} s)"

    def engage(self, endpoint: str, reason: str, now: float) -> str:
        """Immediate stop held by `endpoint` (any name: an engage is never refused)."""
        name = endpoint or "unnamed"
        self._holds[name] = Hold(name, IMMEDIATE, reason or "engage requested")
        return f"engaged by {name}: {self._holds[name].reason}"

    def release(self, endpoint: str, now: float) -> str:
        """Drop `endpoint`'s hold (ADMIN: every hold); Refused with the reason otherwise."""
        if endpoint == ADMIN:
            if not self._holds:
                raise Refused("not engaged")
            dropped = ", ".join(sorted(self._holds))
            self._holds.clear()
            # A lost endpoint is forgotten (it joins again by checking in), so it cannot
            # hold the dog again for the same silence.
            for name in [n for n, e in self._endpoints.items() if e.stale]:
                del self._endpoints[name]
            return f"admin released every hold ({dropped})"
        if endpoint not in self._holds:
            holders = ", ".join(sorted(self._holds)) or "nobody"
            raise Refused(f"{endpoint or 'unnamed'} holds no e-stop (held by {holders}); "
                          "only the endpoint that engaged it or an admin may release it")
        entry = self._endpoints.get(endpoint)
        if entry is not None and entry.stale:
            raise Refused(f"{endpoint} missed its deadline: check in before releasing")
        del self._holds[endpoint]
        left = ", ".join(sorted(self._holds))
        return f"{endpoint} released its hold" + (f"; still held by {left}" if left else "")

    def tick(self, now: float) -> list[str]:
        """Deadlines at `now`: endpoints that just went stale hold a controlled stop."""
        events = []
        for name, entry in self._endpoints.items():
            late = now - entry.last > entry.timeout_s
            if late and not entry.stale:
                entry.stale = True
                reason = f"{name} missed its {entry.timeout_s:g} s deadline"
                if name not in self._holds:  # an engage (category 0) stays the stricter hold
                    self._holds[name] = Hold(name, CONTROLLED, reason)
                events.append(reason)
            elif not late and entry.stale:
                entry.stale = False  # checked in again; its hold stays until released
        return events

    def next_deadline(self) -> float | None:
        """When the next endpoint goes stale, or None (for a timer that wakes exactly then)."""
        live = [e.last + e.timeout_s for e in self._endpoints.values() if not e.stale]
        return min(live) if live else None

    def status(self) -> EstopStatus:
        holds = tuple(sorted(self._holds.values(), key=lambda h: (h.category, h.endpoint)))
        return EstopStatus(
            engaged=bool(holds), category=holds[0].category if holds else None,
            reason="; ".join(f"{h.endpoint}: {h.reason}" for h in holds),
            holds=holds, endpoints=tuple(sorted(self._endpoints)),
            stale=tuple(sorted(n for n, e in self._endpoints.items() if e.stale)))
