"""The station's incidents, framework-neutral: what a web route, the command line or the MQTT
intake calls to open, dispatch, assign, note, close, reopen, list and export an incident.

No HTTP server and no ROS inside; time comes in through `clock` (wall time, s) and storage
through `IncidentTables`. Every call takes the acting account (`Principal`) and checks its
role's action server-side (robot_dog/station/accounts/roles.py): `dispatch` (commander, admin)
for every change, `watch` for reads. Refusals are `IncidentRefused` (a `Refused`: stable
`code`, words in `detail`; `http_status(exc)` says what a route answers) or the accounts'
`Forbidden` (code `forbidden`, status 403). The calls (docs/station_data.md):

    open(who, summary="", alarm=None)                        -> {"incident", "entry"}
    dispatch_dog(who, id, dog, target=None, route=None, loop=True)
                                                              -> {"incident", "entry", "command"}
    cancel_dog(who, id, dog)                                  -> {"incident", "entry", "command"}
    respond(who, dog=, target=None, route=None, officer=None, what="", incident=None,
            alarm=None, summary="")           -> {"incident", "joined", "entries", "commands"}
    assign_officer(who, id, officer, dog=, what="", where=None) -> {"incident", "entry", "command"}
    note(who, id, text) / close(who, id, disposition) / reopen(who, id, reason)
                                                              -> {"incident", "entry"}
    get(who, id) -> the incident with its timeline, units and linked evidence
    list_incidents(who, state=, dog=, officer=, since=, until=, limit=) -> [summaries]
    export_json(who, id) -> document;  export_html(who, id, lang="en"|"zh") -> printable page
    on_event(dog, event) -> entries appended (the station's MQTT intake; the dog's own channel)
    add_listener(fn)     -> fn(incident, entries) after every stored change, whatever made it

A dispatch and an assignment send their verb through the station's command path (the same
checks, signature, audit row and audit line as `POST /api/dogs/{dog}/commands/{verb}`), and
the timeline entry records the verb and the command's nonce beside where the dog was sent.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from robot_dog import verbs
from robot_dog.errors import Refused
from robot_dog.station.accounts import Accounts, Principal
from robot_dog.station.dispatch import BadCommand, BrokerUnreachable, DispatchError, Dispatcher, UnknownDog
from robot_dog.station.incident_page import LANGUAGES, render_html
from robot_dog.station.incidents import Entry, Incident, IncidentRefused, check_name, check_target
from robot_dog.station.storage.incident_tables import IncidentTables, IncidentRow, TimelineConflict
from robot_dog.station.storage.reads import StorageReads

_LOGGER = logging.getLogger(__name__)
_SECURITY = logging.getLogger("robot_dog.security")

#: The officer's answers on the handheld -> the unit status they report (fixed contract).
OFFICER_STATES = {"accepted": "en_route", "on_scene": "on_scene", "done": "cleared"}
#: Event types the intake takes into a timeline (everything else stays in the events table).
INTAKE_TYPES = frozenset({"goal", "officer_task", "estop"})
#: Goal endings the intake leaves out: a goal pre-empted by the next dispatch belongs to the
#: incident the dog was taken from, which already says so (its unit is cleared).
IGNORED_GOAL_STATES = frozenset({"preempted"})
#: The verb that tells an officer's handheld about a task (robot_dog/verbs.py).
TASK_VERB = "task"
#: Longest `what` of a task, characters (the verb's limit; a longer summary is cut).
MAX_TASK_TEXT = verbs.TASK_WHAT_CHARS
#: Route name -> the verb that walks it (`return` is the route home).
ROUTE_VERBS = {"home": "return"}
#: The verb that stops a dog's goal where it stands.
CANCEL_VERB = "cancel"
#: Attempts at appending when another station worker appends to the same incident at once.
APPEND_ATTEMPTS = 5
#: HTTP status a route answers a refusal with (400 for any code not listed).
STATUS = {"unknown_incident": 404, "unknown_dog": 404, "not_sent": 503, "busy_incident": 503,
          "commands_disabled": 403, "incident_closed": 409, "not_closed": 409,
          "already_assigned": 409, "status_backwards": 409, "alarm_open": 409, "dog_offline": 409}


def http_status(exc: Exception) -> int:
    """The HTTP status for a refusal of this service (an AccountError carries its own)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    return STATUS.get(getattr(exc, "code", ""), 400)


def new_incident_id(now: float) -> str:
    """`inc-YYYYMMDD-HHMMSS-xxxx` (UTC): sorts by time, unique across station workers."""
    return f"inc-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{secrets.token_hex(2)}"


def goal_command(target: Mapping[str, float] | None, route: str | None,
                 loop: bool) -> tuple[str, dict[str, Any]]:
    """(verb, args) that send a dog to `target` ({x, y} odom or {lat, lon}) or along `route`."""
    if route is not None:
        if route in ROUTE_VERBS:
            return ROUTE_VERBS[route], {}
        return "patrol", {"route": route, "loop": loop}
    point = dict(target or {})
    if set(point) == {"lat", "lon"}:
        return "goto", {"frame": "wgs84", "x": point["lat"], "y": point["lon"]}
    return "goto", {"frame": "odom", "x": point.get("x"), "y": point.get("y")}


class IncidentService:
    def __init__(self, store: IncidentTables, accounts: Accounts, *,
                 dispatcher: Dispatcher | None = None, storage: StorageReads | None = None,
                 clock: Callable[[], float] = time.time,
                 new_id: Callable[[float], str] = new_incident_id) -> None:
        """`dispatcher`: the station's command path (None: a station without a fleet, which
        refuses dispatches with `commands_disabled`); `storage`: the station's storage, whose
        recordings are linked to incidents when read and whose events an alarm names."""
        self.store, self.accounts, self.dispatcher = store, accounts, dispatcher
        self.storage, self._clock, self._new_id = storage, clock, new_id
        #: The status a dog last sent (online/offline; None: not heard since the start): the web
        #: server sets it to its own (StationHttp.last_status), so a dispatch to an offline dog
        #: is refused unsent as the console's commands are (`dog_offline`).
        self.status_of: Callable[[str], str | None] = lambda dog: None
        # One change at a time in this worker: load, apply, send, append never interleave.
        # Other workers sharing PostgreSQL are kept apart by the store's append guard.
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Incident, list[Entry]], None]] = []

    def add_listener(self, listener: Callable[[Incident, list[Entry]], None]) -> None:
        """`listener(incident, entries)` after each change is stored (any thread; the entries
        are the timeline's newest): how the live pages hear of a change, whoever made it."""
        self._listeners.append(listener)

    def _stored(self, incident: Incident, entries: list[Entry]) -> None:
        for listener in self._listeners:
            try:
                listener(incident, entries)
            except Exception:   # a page's push must never undo or block a stored change
                _LOGGER.exception("incident listener failed on %s", incident.id)

    # --- changes ---------------------------------------------------------------------------
    def open(self, who: Principal, summary: str = "", *,
             alarm: tuple[str, str] | None = None) -> dict[str, Any]:
        """A new incident, by hand or from an alarm (dog, event id): the alarm's entry holds the
        event's type, message and time when the station has it, and its message is the summary
        if none is given. An alarm that already has an open incident is refused with
        `alarm_open` (two consoles, one alarm)."""
        self._authorize(who, "dispatch", alarm[0] if alarm else "")
        if alarm is not None:   # names before any lookup (PostgreSQL refuses a NUL in a query)
            alarm = (check_name(alarm[0], "dog"), check_name(alarm[1], "event"))
        with self._lock:
            if alarm is not None and (existing := self.store.open_for_alarm(*alarm)) is not None:
                raise IncidentRefused("alarm_open", f"{existing} is open for this alarm")
            seen = self._alarm_event(alarm)
            now = self._clock()
            incident = Incident.open(self._new_id(now), at=now, by=who.name,
                                     summary=summary or str(seen.get("message", "")),
                                     alarm=alarm, alarm_extra=seen)
            if not self.store.create(incident, alarm):
                raise IncidentRefused("busy_incident", f"incident id {incident.id} is taken; try again")
            self._stored(incident, list(incident.timeline))
        _LOGGER.info("incident %s opened by %s%s", incident.id, who.name,
                     f" from alarm {alarm[1]} of {alarm[0]}" if alarm else "")
        return self._changed(incident, incident.timeline[-1])

    def dispatch_dog(self, who: Principal, incident_id: str, dog: str, *,
                     target: Mapping[str, float] | None = None, route: str | None = None,
                     loop: bool = True) -> dict[str, Any]:
        """Send `dog` to `target` ({x, y} in its odom frame, m, or {lat, lon}, degrees) with
        `goto`, or along a named `route` with `patrol` (`home`: `return`). The dog leaves any
        other open incident it was on (that timeline says where it went)."""
        self._authorize(who, "dispatch", incident_id)
        point, route = _goal(target, route)
        verb, args = goal_command(point, route, loop)
        with self._lock:
            self._load(incident_id).dispatch_dog(dog, at=self._clock(), by=who.name,
                                                 target=point, route=route)   # refused before sending
            nonce = self._send(who, dog, verb, self._checked(verb, args))
            command = {"verb": verb, "nonce": nonce}
            incident, entry = self._change(incident_id, lambda i: i.dispatch_dog(
                dog, at=self._clock(), by=who.name, target=point, route=route, extra=command))
            for other in self.store.active(dog):
                if other != incident_id:
                    self._change(other, lambda i: i.unit_status(
                        dog, "cleared", at=self._clock(), by=who.name,
                        extra={"reason": "dispatched", "to": incident_id}))
        return {**self._changed(incident, entry), "command": command}

    def assign_officer(self, who: Principal, incident_id: str, officer: str, *, dog: str,
                       what: str = "", where: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Give `officer` a task on the handheld of `dog` (the dog sent with the officer): the
        `task` verb to that dog carries the incident, what to do (default: the summary) and
        where ({x, y} odom or {lat, lon}; default: where `dog` was sent on this incident);
        whom it is from is the command's signed issuer, the acting account."""
        self._authorize(who, "dispatch", incident_id)
        with self._lock:
            incident = self._load(incident_id)
            point = _point(where) if where is not None else _point_sent(incident, dog)
            if point is None:
                raise IncidentRefused("bad_target", f"{dog} was sent to no point on {incident_id}: "
                                      "say where the officer goes")
            _, goto = goal_command(point, None, False)
            task = {"incident": incident_id, "what": what or incident.summary[:MAX_TASK_TEXT],
                    "frame": goto["frame"], "x": goto["x"], "y": goto["y"]}
            incident.assign_officer(officer, at=self._clock(), by=who.name)   # refused before sending
            nonce = self._send(who, dog, TASK_VERB, self._checked(TASK_VERB, task))
            extra = {"dog": dog, "what": task["what"], "where": point, "verb": TASK_VERB,
                     "nonce": nonce}
            incident, entry = self._change(incident_id, lambda i: i.assign_officer(
                officer, at=self._clock(), by=who.name, extra=extra))
        return {**self._changed(incident, entry), "command": {"verb": TASK_VERB, "nonce": nonce}}

    def cancel_dog(self, who: Principal, incident_id: str, dog: str) -> dict[str, Any]:
        """Stop `dog` where it stands (the verb `cancel`) and take it off the incident: its
        unit is `cleared` with the reason `cancelled`, the command's verb and nonce beside it."""
        self._authorize(who, "dispatch", incident_id)
        with self._lock:
            incident = self._load(incident_id)
            kind, status = incident.units.get(dog, ("", "cleared")) if isinstance(dog, str) else ("", "")
            if kind != "dog" or status == "cleared":
                raise IncidentRefused("unknown_unit", f"{str(dog)[:64]} is not out on {incident_id}")
            incident.unit_status(dog, "cleared", at=self._clock(), by=who.name)   # refused before sending
            nonce = self._send(who, dog, CANCEL_VERB, self._checked(CANCEL_VERB, {}))
            command = {"verb": CANCEL_VERB, "nonce": nonce}
            incident, entry = self._change(incident_id, lambda i: i.unit_status(
                dog, "cleared", at=self._clock(), by=who.name, extra={"reason": "cancelled", **command}))
        return {**self._changed(incident, entry), "command": command}

    def respond(self, who: Principal, *, dog: str, target: Mapping[str, float] | None = None,
                route: str | None = None, loop: bool = True, officer: str | None = None,
                what: str = "", incident: str | None = None,
                alarm: tuple[str, str] | None = None, summary: str = "") -> dict[str, Any]:
        """The console's two-click dispatch: the incident (`incident`; else the open one of
        `alarm`, joined; else a new one from `alarm` or `summary`), `dog` sent to `target` or
        along `route`, and `officer` (if named) given the task with that dog at `target`.
        Everything that can be checked here is checked before anything is stored or sent; a
        refusal after that (the dog unknown to the fleet, the broker down) leaves what was done
        on the timeline, which says so."""
        self._authorize(who, "dispatch", incident or (alarm[0] if alarm else ""))
        point, route = _goal(target, route)
        self._checked(*goal_command(point, route, loop))
        check_name(dog, "dog")
        if officer is not None:
            check_name(officer, "officer")
            if point is None:
                raise IncidentRefused("bad_target", "an officer is sent to a point: give a target")
        if alarm is not None:
            check_name(alarm[0], "dog")
            check_name(alarm[1], "event")
        if incident is not None:
            check_name(incident, "incident")
        if not (isinstance(what, str) and isinstance(summary, str)) or len(what) > MAX_TASK_TEXT:
            raise IncidentRefused("bad_text", f"what (at most {MAX_TASK_TEXT} characters) and the "
                                  "summary are text")
        with self._lock:
            if incident is None and alarm is not None:
                incident = self.store.open_for_alarm(*alarm)
            joined = incident is not None
            if incident is None:
                incident = self.open(who, summary, alarm=alarm)["incident"]["id"]
            else:
                now = self._load(incident)
                if now.closed:
                    raise IncidentRefused("incident_closed", f"incident {incident} is closed ({now.disposition})")
                if officer is not None and now.status_of(officer) not in (None, "cleared"):
                    raise IncidentRefused("already_assigned", f"{officer} is already on {incident}")
            steps = [self.dispatch_dog(who, incident, dog, target=point, route=route, loop=loop)]
            if officer is not None:
                steps.append(self.assign_officer(who, incident, officer, dog=dog, what=what,
                                                 where=point))
        return {"incident": steps[-1]["incident"], "joined": joined,
                "entries": [s["entry"] for s in steps], "commands": [s["command"] for s in steps]}

    def note(self, who: Principal, incident_id: str, text: str) -> dict[str, Any]:
        self._authorize(who, "dispatch", incident_id)
        return self._changed(*self._change(incident_id, lambda i: i.note(
            text, at=self._clock(), by=who.name)))

    def close(self, who: Principal, incident_id: str, disposition: str) -> dict[str, Any]:
        self._authorize(who, "dispatch", incident_id)
        return self._changed(*self._change(incident_id, lambda i: i.close(
            disposition, at=self._clock(), by=who.name)))

    def reopen(self, who: Principal, incident_id: str, reason: str) -> dict[str, Any]:
        self._authorize(who, "dispatch", incident_id)
        return self._changed(*self._change(incident_id, lambda i: i.reopen(
            reason, at=self._clock(), by=who.name)))

    # --- what the dogs report ---------------------------------------------------------------
    def on_event(self, dog: str, event: Mapping[str, Any]) -> list[Entry]:
        """An event from `dog` (schema-checked by ingest, its topic's dog): a goal ending or an
        e-stop goes to the open incident the dog is on; an officer's answer (`officer_task`)
        to the incident it names, if that officer's task went through this dog. The entries
        appended ([] when the event belongs to no incident, or was taken already: QoS 1
        delivers at least once, and an entry keeps the event's id)."""
        if event.get("type") not in INTAKE_TYPES:
            return []
        try:
            with self._lock:
                if event["type"] == "officer_task":
                    return self._officer_answer(dog, event)
                return self._dog_report(dog, event)
        except IncidentRefused as exc:   # out of order, already there, closed: nothing to add
            _LOGGER.info("event %s of %s not taken into an incident: %s", event.get("id"), dog, exc)
            return []

    def _dog_report(self, dog: str, event: Mapping[str, Any]) -> list[Entry]:
        data = _data(event)
        state = str(data.get("state", "")) if event["type"] == "goal" else ""
        if state in IGNORED_GOAL_STATES:
            return []
        active = self.store.active(dog)
        if not active:
            return []
        report = {"type": event["type"], "severity": event.get("severity"),
                  "message": event.get("message", ""), "event": event.get("id"), "ts": event.get("ts"),
                  **({"state": state} if state else {})}

        def take(incident: Incident) -> list[Entry]:
            if _has_event(incident, dog, report["event"]):
                return []
            now = self._clock()
            entries = [incident.dog_event(dog, report, at=now)]
            if state == "arrived" and incident.status_of(dog) in ("dispatched", "en_route"):
                entries.append(incident.unit_status(dog, "on_scene", at=now, by=dog,
                                                    extra={"event": report["event"]}))
            return entries
        return self._change_many(active[0], take)

    def _officer_answer(self, dog: str, event: Mapping[str, Any]) -> list[Entry]:
        data = _data(event)
        incident_id, officer, answer = data.get("incident"), data.get("officer"), data.get("state")
        if not (isinstance(incident_id, str) and isinstance(officer, str)
                and answer in OFFICER_STATES):
            raise IncidentRefused("bad_status", f"officer_task needs incident, officer and a state "
                                  f"of {', '.join(OFFICER_STATES)}")

        def take(incident: Incident) -> list[Entry]:
            sent_with = _task_dog(incident, officer)
            if sent_with is None:
                raise IncidentRefused("unknown_unit", f"{officer} has no task on {incident_id}")
            if sent_with != dog:   # any dog's credential can write an event: only the task's counts
                _SECURITY.warning("security: %s reported for %s on %s, whose task went through %s; "
                                  "dropped", dog, officer, incident_id, sent_with)
                return []
            if _has_event(incident, dog, event.get("id")):
                return []
            return [incident.unit_status(officer, OFFICER_STATES[str(answer)], at=self._clock(),
                                         by=officer, extra={"answer": answer, "via": dog,
                                                            "event": event.get("id"),
                                                            "ts": event.get("ts")})]
        return self._change_many(incident_id, take)

    # --- reads -----------------------------------------------------------------------------
    def get(self, who: Principal, incident_id: str) -> dict[str, Any]:
        """The incident: summary, state, units, timeline and the evidence linked to it."""
        self._authorize(who, "watch", incident_id)
        row, incident = self._read(incident_id)
        return {**row.to_doc(), "units": incident.to_doc()["units"],
                "timeline": [e.to_doc() for e in incident.timeline],
                "evidence": self.linked_evidence(row, incident)}

    def list_incidents(self, who: Principal, *, state: str | None = None,
                       dog: str | None = None, officer: str | None = None,
                       since: float | None = None, until: float | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
        """Incidents newest first, filtered (IncidentTables.find), each with its units."""
        self._authorize(who, "watch")
        if state not in (None, "open", "closed"):
            raise IncidentRefused("bad_filter", "state is open or closed")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise IncidentRefused("bad_filter", "limit is a whole number")
        for name, text in (("dog", dog), ("officer", officer)):
            if text is not None and (not isinstance(text, str) or len(text) > 64
                                     or any(ord(c) < 32 for c in text)):
                raise IncidentRefused("bad_filter", f"{name} is a name")
        for name, value in (("since", since), ("until", until)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not abs(value) < 1e11):
                raise IncidentRefused("bad_filter", f"{name} is a time in s since the epoch")
        rows = self.store.find(state=state, dog=dog, officer=officer, since=since, until=until,
                               limit=limit)
        units: dict[str, list[dict[str, str]]] = {row.id: [] for row in rows}
        for u in self.store.units(*units):
            units[u.incident].append({"unit": u.unit, "kind": u.kind, "status": u.status})
        return [{**row.to_doc(), "units": units[row.id]} for row in rows]

    def linked_evidence(self, row: IncidentRow, incident: Incident) -> list[dict[str, Any]]:
        """Recordings and stills of the incident's dogs (its units and the alarm's dog) whose
        time overlaps [opened, closed or now]: queried when read, so a recording the dog
        uploads after the close is linked as soon as the station holds it. Each recording lists
        the items inside the window with their SHA-256 and verification state."""
        if self.storage is None:
            return []
        since, until = row.opened_at, row.closed_at if row.closed_at is not None else self._clock()
        dogs = sorted({u for u, (kind, _) in incident.units.items() if kind == "dog"}
                      | ({row.alarm_dog} if row.alarm_dog else set()))
        out = []
        for dog in dogs:
            for rec in reversed(self.storage.evidence_recordings(dog, since, until)):
                items = [{k: i[k] for k in ("seq", "kind", "file", "size", "sha256", "start", "end",
                                            "state")}
                         for i in self.storage.evidence_items(dog, rec["recording"])
                         if i["start"] <= until and i["end"] >= since]
                out.append({"dog": dog, **{k: rec[k] for k in (
                    "recording", "device", "officer", "reason", "started_at", "ended_at", "locked")},
                    "items": items})
        return out

    def export_json(self, who: Principal, incident_id: str) -> dict[str, Any]:
        """One incident as a self-contained document: timeline, units, linked evidence with
        hashes, and who exported it when (the export is on the audit log too)."""
        doc = self.get(who, incident_id)
        now = self._clock()
        self.accounts.record("incident_export", who.name, incident_id, entries=len(doc["timeline"]))
        return {"format": "robot-dog incident v1", "exported_at": now, "exported_by": who.name,
                "incident": doc}

    def export_html(self, who: Principal, incident_id: str, lang: str = "en") -> str:
        """The printable page of `export_json` (every value escaped; labels in `lang`)."""
        if lang not in LANGUAGES:
            raise IncidentRefused("bad_filter", f"lang is one of {', '.join(LANGUAGES)}")
        return render_html(self.export_json(who, incident_id), lang)

    # --- the machinery -----------------------------------------------------------------------
    def _alarm_event(self, alarm: tuple[str, str] | None) -> dict[str, Any]:
        """What the stored alarm event says ({} when it is not stored, or not yet)."""
        if alarm is None or self.storage is None or not all(isinstance(a, str) for a in alarm):
            return {}
        event = self.storage.event(*alarm)
        return {k: event[k] for k in ("type", "severity", "message", "ts") if k in event} if event else {}

    def _authorize(self, who: Principal, action: str, target: str = "") -> None:
        self.accounts.authorize(who, action, target)

    def _load(self, incident_id: str) -> Incident:
        entries = self.store.entries(incident_id) if isinstance(incident_id, str) else []
        if not entries:
            raise IncidentRefused("unknown_incident", f"no incident {str(incident_id)[:64]!r}")
        return Incident.replay(incident_id, entries)

    def _read(self, incident_id: str) -> tuple[IncidentRow, Incident]:
        for _ in range(APPEND_ATTEMPTS):   # the row and the timeline from the same moment
            incident = self._load(incident_id)
            row = self.store.row(incident_id)
            if row is not None and row.entries == len(incident.timeline):
                return row, incident
        raise IncidentRefused("busy_incident", f"{incident_id} is changing too fast to read")

    def _change(self, incident_id: str, action: Callable[[Incident], Entry]) -> tuple[Incident, Entry]:
        incident, entries = self._append(incident_id, lambda i: [action(i)])
        return incident, entries[-1]

    def _change_many(self, incident_id: str, action: Callable[[Incident], list[Entry]]) -> list[Entry]:
        return self._append(incident_id, action)[1]

    def _append(self, incident_id: str,
                action: Callable[[Incident], list[Entry]]) -> tuple[Incident, list[Entry]]:
        """Load the timeline, apply `action`, store what it appended; again from the load if
        another worker appended meanwhile (the action is checked against the newest state)."""
        with self._lock:
            for _ in range(APPEND_ATTEMPTS):
                incident = self._load(incident_id)
                before = len(incident.timeline)
                entries = action(incident)
                if not entries:
                    return incident, []
                try:
                    self.store.append(incident, before)
                except TimelineConflict:
                    continue
                self._stored(incident, incident.timeline[before:])
                return incident, incident.timeline[before:]
        raise IncidentRefused("busy_incident", f"{incident_id} is changing too fast; try again")

    def _checked(self, verb: str, args: dict[str, Any]) -> dict[str, Any]:
        """`args` checked against the verb table before anything is signed or sent."""
        try:
            return verbs.check(verb, args, verbs.STATION)
        except Refused as exc:   # bad_args: e.g. a point beyond the verb's range
            raise IncidentRefused(exc.code, exc.detail) from None

    def _send(self, who: Principal, dog: str, verb: str, args: dict[str, Any]) -> str:
        """The station's command path, as the commands route takes it: sign, audit, publish."""
        if self.dispatcher is None:
            raise IncidentRefused("commands_disabled", "this station has no fleet directory: "
                                  "it cannot command dogs")
        if self.status_of(dog) == "offline":   # the desk sends no e-stop, the one verb that goes
            self.accounts.record("command", who.name, dog, ok=False, verb=verb,
                                 reason="dog_offline", via=who.via)
            raise IncidentRefused("dog_offline", f"{dog} is offline: {verb} not sent")
        try:
            nonce = self.dispatcher.send(dog, verb, args, who.issuer)
        except DispatchError as exc:
            self.accounts.record("command", who.name, dog, ok=False, verb=verb,
                                 reason=str(exc)[:200], via=who.via)
            raise _refusal(exc) from None
        self.accounts.command_sent(who, dog, verb, nonce)
        return nonce

    def _changed(self, incident: Incident, entry: Entry | None) -> dict[str, Any]:
        return {"incident": {"id": incident.id, "summary": incident.summary,
                             "state": "closed" if incident.closed else "open",
                             "disposition": incident.disposition,
                             "entries": len(incident.timeline)},
                "entry": entry.to_doc() if entry is not None else None}


def _refusal(exc: DispatchError) -> IncidentRefused:
    if isinstance(exc, UnknownDog):
        return IncidentRefused("unknown_dog", str(exc))
    if isinstance(exc, BrokerUnreachable):
        return IncidentRefused("not_sent", str(exc))
    if isinstance(exc, BadCommand):
        return IncidentRefused("bad_args", str(exc))
    return IncidentRefused("not_sent", str(exc))


def _goal(target: object, route: object) -> tuple[dict[str, float] | None, str | None]:
    """(point, route) of a dispatch as a client gave them: one of the two, each checked."""
    if (target is None) == (route is None):
        raise IncidentRefused("bad_target", "a dispatch names a target point or a route, one of them")
    return _point(target), (check_name(route, "route") if route is not None else None)


def _point(value: object) -> dict[str, float] | None:
    """A target as given by a client: None, or {x, y} / {lat, lon} checked (check_target)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise IncidentRefused("bad_target", "a target is {x, y} in the dog's odom frame or {lat, lon}")
    return check_target(dict(value))


def _data(event: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _has_event(incident: Incident, dog: str, event_id: Any) -> bool:
    """Whether an entry already holds this event of this dog (a redelivery)."""
    return event_id is not None and any(
        e.data.get("event") == event_id and (e.unit == dog or e.data.get("via") == dog)
        for e in incident.timeline)


def _task_dog(incident: Incident, officer: str) -> str | None:
    """The dog the officer's newest task went through, if the officer is on the incident."""
    for entry in reversed(incident.timeline):
        if entry.kind == "officer_assigned" and entry.unit == officer:
            dog = entry.data.get("dog")
            return dog if isinstance(dog, str) else None
    return None


def _point_sent(incident: Incident, dog: str) -> dict[str, float] | None:
    """The point `dog` was last sent to on this incident (None: nowhere, or along a route)."""
    for entry in reversed(incident.timeline):
        if entry.kind == "dog_dispatched" and entry.unit == dog:
            target = entry.data.get("target")
            return dict(target) if isinstance(target, dict) else None
    return None
