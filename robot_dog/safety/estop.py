"""Multi-endpoint heartbeat e-stop (pure; `now` in s from the node's clock, `wall` in s since the
Unix epoch for ordering against signed commands and for holds kept across a restart).

Endpoints (handheld, station, MCU, a hardware button through the payload MCU; the configured set
`known`, any other name is refused with `unknown_endpoint`) join by checking in with a timeout
and keep checking in. Policy, declared rather than accidental:

- an endpoint that misses its deadline holds the e-stop with a controlled stop (the base
  decelerates to zero); an engage request holds it with an immediate zero. Either way the stop is
  category 1: after a settle time still held, the base sits (motion.py);
- the station supervises autonomy: when its check-ins lapse while a handheld is live (an officer
  is present and in control), its hold pauses only the autonomous inputs (`scope` AUTONOMY); if
  no handheld is live it is a full hold like any other. Both lost = two full holds;
- an engage is never refused, whoever asks; one from an unknown name holds as `unknown`, which
  only ADMIN releases;
- each hold has an id and a start time. A release frees only the hold it names: its own
  endpoint's hold (or the boot hold, for BOOT_RELEASERS), and only if it names that hold's id or
  was issued after the hold began (`issued_at`, the command's signed time). An older release is
  refused (`hold_mismatch`, `release_before_hold`: security events, a held-back message replayed
  by a compromised broker looks exactly like this);
- a stale endpoint must check in again before releasing; ADMIN releases every hold and forgets
  stale endpoints; checking in with timeout 0 leaves cleanly (its own stale hold stays);
- holds survive a restart (`snapshot` / `restore`, written by the node to its state file); a
  restored core also holds BOOT until an authorised release.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from robot_dog.safety.errors import Refused

ADMIN = "admin"
BOOT = "boot"
UNKNOWN = "unknown"
DEFAULT_ENDPOINTS = ("handheld", "station", "mcu", "button")
#: Who may release the boot hold: an endpoint with a human behind it, or the admin on the dog.
BOOT_RELEASERS = ("handheld", "station", ADMIN)
#: The endpoint that supervises autonomy, and those whose live presence keeps the officer in control.
SUPERVISOR, OFFICERS = "station", ("handheld",)
#: Endpoint timeouts accepted at check-in, s (shorter is jitter, longer is no watch at all).
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.05, 10.0
IMMEDIATE, CONTROLLED = 0, 1   # stop profile: zero at once, or decelerate (both end category 1)
FULL, AUTONOMY = "full", "autonomy"
#: Refusal codes that may be an attack rather than a mistake: logged as security events.
SECURITY_CODES = ("hold_mismatch", "release_before_hold")


@dataclass(frozen=True)
class Hold:
    endpoint: str
    category: int
    reason: str
    id: str = ""
    since: float = 0.0     # wall clock (s since the epoch) when the hold began
    scope: str = FULL

    @property
    def cause(self) -> str:
        """Why the hold began, as a stable code (the handheld words it): `engaged` (an engage
        request), `deadline_missed` (the endpoint's check-ins lapsed), `restarted` (the boot hold)."""
        if self.endpoint == BOOT:
            return "restarted"
        return "engaged" if self.category == IMMEDIATE else "deadline_missed"


@dataclass(frozen=True)
class EstopStatus:
    engaged: bool               # a full hold remains: nothing drives, the payload is safe
    category: int | None        # None when released; the strictest (lowest) of the full holds
    reason: str
    holds: tuple[Hold, ...]
    endpoints: tuple[str, ...]
    stale: tuple[str, ...]
    autonomy_held: bool = False  # only autonomous inputs are held (station lost, officer present)

    @property
    def key(self) -> tuple[object, ...]:
        """What a log reader needs to see change (not a button's repeated engage)."""
        return (self.engaged, self.autonomy_held, self.reason, self.endpoints, self.stale)


@dataclass
class _Endpoint:
    timeout_s: float
    last: float
    stale: bool = False


def _new_id() -> str:
    return secrets.token_hex(6)


@dataclass
class EstopCore:
    known: tuple[str, ...] = DEFAULT_ENDPOINTS
    _endpoints: dict[str, _Endpoint] = field(init=False, default_factory=dict)
    _holds: dict[str, Hold] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        bad = [n for n in self.known if n in (ADMIN, BOOT, UNKNOWN, "") or not n.isidentifier()]
        if bad or not self.known:
            raise ValueError(f"endpoint names must be plain identifiers other than {ADMIN}, "
                             f"{BOOT}, {UNKNOWN}; got {list(self.known)}")

    def _check_name(self, endpoint: str) -> None:
        if endpoint not in self.known:
            raise Refused(f"unknown e-stop endpoint {endpoint!r}; known: {', '.join(self.known)}",
                          "unknown_endpoint")

    def check_in(self, endpoint: str, timeout_s: float, now: float) -> str:
        """Register or refresh `endpoint`; timeout 0 leaves. Returns what happened, or Refused."""
        self._check_name(endpoint)
        if not isinstance(timeout_s, (int, float)) or not math.isfinite(timeout_s):
            raise Refused(f"timeout_s {timeout_s!r} is not a finite number", "bad_timeout")
        if timeout_s == 0:
            self._endpoints.pop(endpoint, None)
            return f"{endpoint} left (no longer watched)"
        if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
            raise Refused(f"timeout_s {timeout_s:g} outside [{MIN_TIMEOUT_S:g}, {MAX_TIMEOUT_S:g}] s",
                          "bad_timeout")
        entry = self._endpoints.get(endpoint)
        self._endpoints[endpoint] = _Endpoint(timeout_s, now)  # back: its hold stays
        return f"{endpoint} {'joined' if entry is None else 'checked in'} (deadline {timeout_s:g} s)"

    def engage(self, endpoint: str, reason: str, now: float, wall: float | None = None) -> Hold:
        """Immediate stop held by `endpoint` (never refused; an unknown name holds as UNKNOWN).
        A repeated engage renews the hold (new id, new start): a release meant for the earlier
        one cannot free it."""
        name = endpoint if endpoint in self.known else UNKNOWN
        if name == UNKNOWN:
            reason = f"from unknown endpoint {endpoint!r}: {reason or 'engage requested'}"
        self._holds[name] = Hold(name, IMMEDIATE, reason or "engage requested", _new_id(),
                                 now if wall is None else wall)
        return self._holds[name]

    def hold_boot(self, reason: str, wall: float) -> Hold:
        """The boot hold of a restarted node (until an authorised release)."""
        self._holds[BOOT] = Hold(BOOT, CONTROLLED, reason, _new_id(), wall)
        return self._holds[BOOT]

    def _named_hold(self, endpoint: str, hold_id: str) -> Hold:
        mine = self._holds.get(endpoint)
        boot = self._holds.get(BOOT) if endpoint in BOOT_RELEASERS else None
        if hold_id:
            for hold in (mine, boot):
                if hold is not None and hold.id == hold_id:
                    return hold
            if mine is None and boot is None:
                raise Refused(f"{endpoint} holds no e-stop", "not_held")
            raise Refused(f"hold {hold_id!r} is not {endpoint}'s current hold (an older one was "
                          "released or renewed)", "hold_mismatch")
        if mine is not None:
            return mine
        if boot is not None:
            return boot
        holders = ", ".join(sorted(self._holds)) or "nobody"
        raise Refused(f"{endpoint or 'unnamed'} holds no e-stop (held by {holders}); only the "
                      "endpoint that engaged it or an admin may release it", "not_held")

    def release(self, endpoint: str, now: float, wall: float | None = None, hold_id: str = "",
                issued_at: float = 0.0) -> str:
        """Drop the hold `endpoint` names (ADMIN: every hold); Refused with a code otherwise.

        `issued_at` (s since the epoch, 0: now) is when the release was issued, for a signed
        command its signed time: a release issued before the hold began is refused."""
        wall = now if wall is None else wall
        if endpoint == ADMIN:
            if not self._holds:
                raise Refused("not engaged", "not_engaged")
            dropped = ", ".join(sorted(self._holds))
            self._holds.clear()
            # A lost endpoint is forgotten (it joins again by checking in), so it cannot
            # hold the dog again for the same silence.
            for name in [n for n, e in self._endpoints.items() if e.stale]:
                del self._endpoints[name]
            return f"admin released every hold ({dropped})"
        self._check_name(endpoint)
        hold = self._named_hold(endpoint, hold_id)
        if issued_at and issued_at < hold.since:
            raise Refused(f"release issued {hold.since - issued_at:.3f} s before {hold.endpoint}'s "
                          "hold began: it cannot be meant for it", "release_before_hold")
        entry = self._endpoints.get(endpoint)
        if entry is not None and entry.stale:
            raise Refused(f"{endpoint} missed its deadline: check in before releasing",
                          "check_in_first")
        del self._holds[hold.endpoint]
        left = ", ".join(sorted(self._holds))
        what = "its hold" if hold.endpoint == endpoint else f"the {hold.endpoint} hold"
        return f"{endpoint} released {what}" + (f"; still held by {left}" if left else "")

    def _officer_present(self) -> bool:
        return any(n in self._endpoints and not self._endpoints[n].stale for n in OFFICERS)

    def tick(self, now: float, wall: float | None = None) -> list[str]:
        """Deadlines at `now`: endpoints that just went stale hold a controlled stop."""
        events = []
        for name, entry in self._endpoints.items():
            late = now - entry.last > entry.timeout_s
            if late and not entry.stale:
                entry.stale = True
                reason = f"{name} missed its {entry.timeout_s:g} s deadline"
                scope = AUTONOMY if name == SUPERVISOR and self._officer_present() else FULL
                if scope == AUTONOMY:
                    reason += ": autonomous motion held, the handheld keeps control"
                if name not in self._holds:  # an engage stays the stricter hold
                    self._holds[name] = Hold(name, CONTROLLED, reason, _new_id(),
                                             now if wall is None else wall, scope)
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
        full = [h for h in holds if h.scope == FULL]
        return EstopStatus(
            engaged=bool(full), category=full[0].category if full else None,
            reason="; ".join(f"{h.endpoint}: {h.reason}" for h in holds),
            holds=holds, endpoints=tuple(sorted(self._endpoints)),
            stale=tuple(sorted(n for n, e in self._endpoints.items() if e.stale)),
            autonomy_held=any(h.scope == AUTONOMY for h in holds))

    # ---- across a restart ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The holds, as JSON-ready data (endpoints are not kept: they check in again)."""
        return {"version": 1, "holds": [asdict(h) for h in self._holds.values()]}

    def restore(self, doc: Any, wall: float) -> list[str]:
        """Holds of a `snapshot`, plus the BOOT hold; an unreadable document holds BOOT too."""
        notes = []
        try:
            if not isinstance(doc, dict) or doc.get("version") != 1:
                raise ValueError("not a version 1 state")
            for item in doc["holds"]:
                hold = Hold(**item)
                if not (isinstance(hold.endpoint, str) and isinstance(hold.reason, str)
                        and hold.category in (IMMEDIATE, CONTROLLED) and hold.scope in (FULL, AUTONOMY)):
                    raise ValueError(f"bad hold {item!r}")
                if hold.endpoint != BOOT:
                    self._holds[hold.endpoint] = hold
                    notes.append(f"restored hold of {hold.endpoint}: {hold.reason}")
        except (KeyError, TypeError, ValueError) as exc:
            notes.append(f"state unreadable ({exc}): holding")
        self.hold_boot("safety node restarted: held until an authorised release", wall)
        return notes
