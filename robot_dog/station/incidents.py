"""Incidents: the story of one response, from the alarm to the close (pure; no I/O, no clock).

The loop this serves is "video patrol -> platform dispatch -> joint response": something is
seen, the station sends a dog and an officer, both report until the incident closes. As in a
computer-aided dispatch system, an incident has units (dogs and officers), each with a status
that only moves forward (dispatched -> en route -> on scene -> cleared), and a timeline that
is appended to, never rewritten: who did what, when, in order. The station's data layer stores
the entries; this module decides which entry an action makes, or refuses it with a code.

    incident = Incident.open("inc-1", at=now, by="王警官", summary="glass break", alarm=("dog1", "e-42"))
    incident.dispatch_dog("dog1", at=now, by="王警官", target={"x": 10.0, "y": 0.0})
    incident.assign_officer("officer7", at=now, by="王警官")
    incident.unit_status("officer7", "en_route", at=now, by="officer7")   # accepted on the phone
    incident.close("arrest", at=now, by="王警官")
"""
from __future__ import annotations

from robot_dog.errors import Refused

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Unit statuses in the only order they may be reached (a unit may skip ahead, never go back).
UNIT_STATUSES = ("dispatched", "en_route", "on_scene", "cleared")
#: How an incident may close (the disposition is required: an incident never just vanishes).
DISPOSITIONS = ("resolved", "arrest", "false_alarm", "referred", "no_action")
#: Kinds of timeline entries, for the filters and the message catalogue of the console.
ENTRY_KINDS = ("opened", "alarm", "dog_dispatched", "officer_assigned", "unit_status", "note",
               "dog_event", "closed", "reopened")
#: What a dog_event entry keeps of the dog's event (its id: the same event delivered twice is
#: recorded once; ts: when the dog saw it, beside the station's `at`).
DOG_EVENT_FIELDS = ("type", "severity", "message", "state", "event", "ts")
MAX_TEXT = 2000        # a summary or a note: characters
MAX_NAME = 64          # an actor, a dog or an officer


class IncidentRefused(Refused, ValueError):
    """An action the incident's rules do not allow; `code` is stable (docs/errors.md)."""


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: at (s since the epoch, the station's clock), by (an account
    name, a dog ID for what a dog reported), kind (ENTRY_KINDS), what it says."""
    at: float
    by: str
    kind: str
    unit: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Incident:
    id: str
    opened_at: float
    summary: str
    timeline: list[Entry] = field(default_factory=list)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)   # unit -> (kind, status)
    disposition: str | None = None

    # ---- building -----------------------------------------------------------------------
    @classmethod
    def open(cls, id: str, *, at: float, by: str, summary: str,
             alarm: tuple[str, str] | None = None,
             alarm_extra: Mapping[str, Any] | None = None) -> Incident:
        """A new incident, by hand or from an alarm (dog, event id); `alarm_extra`: what the
        caller adds to the alarm's entry (the event's type, message and time, when known)."""
        incident = cls(id=id, opened_at=at, summary=_text(summary, "summary"))
        incident._append(Entry(at, _name(by, "by"), "opened", data={"summary": incident.summary}))
        if alarm is not None:
            dog, event = alarm
            incident._append(Entry(at, _name(by, "by"), "alarm", _name(dog, "dog"),
                                   {**(alarm_extra or {}), "event": _name(event, "event")}))
        return incident

    @classmethod
    def replay(cls, id: str, entries: list[Entry]) -> Incident:
        """The incident as stored: its entries applied in order (the data layer keeps only them)."""
        if not entries or entries[0].kind != "opened":
            raise IncidentRefused("corrupt_timeline", f"incident {id} does not begin with 'opened'")
        incident = cls(id=id, opened_at=entries[0].at, summary=entries[0].data.get("summary", ""))
        for entry in entries:
            incident._apply(entry)
            incident.timeline.append(entry)
        return incident

    # ---- actions: each appends one entry and returns it ------------------------------------
    def dispatch_dog(self, dog: str, *, at: float, by: str, target: dict[str, float] | None = None,
                     route: str | None = None, extra: Mapping[str, Any] | None = None) -> Entry:
        """Send `dog` to `target` ({x, y} in its odom frame or {lat, lon}) or along a named
        `route`; the dog's own goal interface judges reachability, this only refuses what is
        not a point. `extra`: what the caller adds to the record (the command's verb, nonce)."""
        self._open_only()
        if (target is None) == (route is None):
            raise IncidentRefused("bad_target", "a dispatch names a target point or a route, one of them")
        where = ({"target": check_target(target)} if target is not None
                 else {"route": _name(route or "", "route")})
        return self._append(Entry(at, _name(by, "by"), "dog_dispatched", _name(dog, "dog"),
                                  {**(extra or {}), **where}))

    def assign_officer(self, officer: str, *, at: float, by: str,
                       extra: Mapping[str, Any] | None = None) -> Entry:
        """`extra`: what the caller adds to the record (the task: what, where, the dog with it)."""
        self._open_only()
        return self._append(Entry(at, _name(by, "by"), "officer_assigned", _name(officer, "officer"),
                                  dict(extra or {})))

    def unit_status(self, unit: str, status: str, *, at: float, by: str,
                    extra: Mapping[str, Any] | None = None) -> Entry:
        """A unit reports (an officer's Accept / On scene / Done, a dog's arrival); `extra`:
        where the report came from (the event id, the dog it came through)."""
        self._open_only()
        return self._append(Entry(at, _name(by, "by"), "unit_status", unit,
                                  {**(extra or {}), "status": status}))

    def note(self, text: str, *, at: float, by: str) -> Entry:
        return self._append(Entry(at, _name(by, "by"), "note", data={"text": _text(text, "note")}))

    def dog_event(self, dog: str, event: dict[str, Any], *, at: float) -> Entry:
        """What a dispatched dog reported (arrived, blocked, e-stopped), in its own name."""
        self._open_only()
        return self._append(Entry(at, _name(dog, "dog"), "dog_event", dog,
                                  {k: event[k] for k in DOG_EVENT_FIELDS if k in event}))

    def close(self, disposition: str, *, at: float, by: str) -> Entry:
        self._open_only()
        if disposition not in DISPOSITIONS:
            raise IncidentRefused("bad_disposition", f"{disposition!r} is not one of {', '.join(DISPOSITIONS)}")
        return self._append(Entry(at, _name(by, "by"), "closed", data={"disposition": disposition}))

    def reopen(self, reason: str, *, at: float, by: str) -> Entry:
        if self.disposition is None:
            raise IncidentRefused("not_closed", f"incident {self.id} is open")
        return self._append(Entry(at, _name(by, "by"), "reopened", data={"reason": _text(reason, "reason")}))

    # ---- views ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.disposition is not None

    def status_of(self, unit: str) -> str | None:
        return self.units[unit][1] if unit in self.units else None

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "opened_at": self.opened_at, "summary": self.summary,
                "disposition": self.disposition,
                "units": [{"unit": u, "kind": k, "status": s} for u, (k, s) in self.units.items()],
                "timeline": [e.to_doc() for e in self.timeline]}

    # ---- rules ---------------------------------------------------------------------------
    def _append(self, entry: Entry) -> Entry:
        if self.timeline and entry.at < self.timeline[-1].at:
            # The station's clock stepped back: keep the order of the story, not the clock's.
            entry = dataclasses.replace(entry, at=self.timeline[-1].at)
        self._apply(entry)
        self.timeline.append(entry)
        return entry

    def _apply(self, entry: Entry) -> None:
        """Check `entry` against the state and take it in (building and replaying alike)."""
        if entry.kind == "dog_dispatched":
            self._take_unit(entry.unit, "dog")
        elif entry.kind == "officer_assigned":
            self._take_unit(entry.unit, "officer")
        elif entry.kind == "unit_status":
            self._advance(entry.unit, entry.data.get("status", ""))
        elif entry.kind == "closed":
            self.disposition = entry.data["disposition"]
        elif entry.kind == "reopened":
            self.disposition = None
        elif entry.kind not in ENTRY_KINDS:
            raise IncidentRefused("unknown_entry", f"no entry kind {entry.kind!r}")

    def _take_unit(self, unit: str, kind: str) -> None:
        """A unit joins (or, once cleared, joins again: a dog sent to a second point)."""
        if unit in self.units and self.units[unit][1] != "cleared":
            if self.units[unit][0] != kind:
                raise IncidentRefused("unit_kind", f"{unit} is a {self.units[unit][0]} here")
            if kind == "officer":
                raise IncidentRefused("already_assigned", f"{unit} is already on this incident")
        self.units[unit] = (kind, "dispatched")

    def _advance(self, unit: str, status: str) -> None:
        if unit not in self.units:
            raise IncidentRefused("unknown_unit", f"{unit} is not on this incident")
        if status not in UNIT_STATUSES:
            raise IncidentRefused("bad_status", f"{status!r} is not one of {', '.join(UNIT_STATUSES)}")
        kind, current = self.units[unit]
        if UNIT_STATUSES.index(status) <= UNIT_STATUSES.index(current):
            raise IncidentRefused("status_backwards", f"{unit} is {current}: {status} does not follow")
        self.units[unit] = (kind, status)

    def _open_only(self) -> None:
        if self.closed:
            raise IncidentRefused("incident_closed", f"incident {self.id} is closed ({self.disposition})")


def check_name(value: object, what: str) -> str:
    """A unit's or an actor's name as the timeline takes it, or IncidentRefused (`bad_name`)."""
    if not isinstance(value, str):
        raise IncidentRefused("bad_name", f"{what} must be 1-{MAX_NAME} characters")
    return _name(value, what)


def _name(value: str, what: str) -> str:
    """A name as given (any script: 王警官 is a name), bounded, no control characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise IncidentRefused("bad_name", f"{what} must be 1-{MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise IncidentRefused("bad_name", f"{what} has control characters")
    return value


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise IncidentRefused("bad_text", f"{what} must be text of at most {MAX_TEXT} characters")
    if "\x00" in value:   # PostgreSQL's text holds no NUL (SQLite would): refused on both
        raise IncidentRefused("bad_text", f"{what} has a NUL character")
    return value


def check_target(target: dict[str, float]) -> dict[str, float]:
    """{x, y} (odom, m) or {lat, lon} (degrees), finite; anything else refused."""
    keys = set(target) if isinstance(target, dict) else set()
    if keys not in ({"x", "y"}, {"lat", "lon"}):
        raise IncidentRefused("bad_target", "a target is {x, y} in the dog's odom frame or {lat, lon}")
    point = {k: target[k] for k in sorted(keys)}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in point.values()):
        raise IncidentRefused("bad_target", "a target's coordinates are finite numbers")
    if keys == {"lat", "lon"} and not (-90 <= point["lat"] <= 90 and -180 <= point["lon"] <= 180):
        raise IncidentRefused("bad_target", "latitude within ±90, longitude within ±180")
    return {k: float(v) for k, v in point.items()}
