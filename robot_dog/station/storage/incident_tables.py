"""The incidents' tables (incidents, incident_entries, incident_units) on SQLite or PostgreSQL.

Plain reads and writes, each committed before it returns (storage/direct.py, like the accounts'
tables): a dispatch is on record before its answer leaves. The rules
(what an action appends, what it refuses) live in robot_dog.station.incidents; this module only
stores what an `Incident` became. The timeline is append-only: `ENTRY_SQL` lists every
statement that touches `incident_entries` (one insert, one select), and a test checks no other
does. Several station workers may share one PostgreSQL: an append names the number of entries
it read (`expected`), and a second writer that read the same number gets `TimelineConflict`
(it reads the timeline again and re-applies its action), never an interleaved story.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from robot_dog.errors import RobotDogError
from robot_dog.station.incidents import Entry, Incident
from robot_dog.station.storage.direct import DirectTables

_ENTRY_INSERT = ("INSERT INTO incident_entries (incident, seq, at, actor, kind, unit, data) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
_ENTRY_SELECT = ("SELECT at, actor, kind, unit, data FROM incident_entries WHERE incident = ? "
                 "ORDER BY seq")
#: Every statement on the timeline table: one insert, one select. Append-only.
ENTRY_SQL = (_ENTRY_INSERT, _ENTRY_SELECT)

_COLUMNS = "id, opened_at, summary, state, disposition, closed_at, updated_at, entries, alarm_dog, alarm_event"
#: Most incidents one list returns.
MAX_LIST = 500


class TimelineConflict(RobotDogError):
    """Another writer appended to the incident since it was read: read it again, re-apply."""


@dataclass(frozen=True)
class IncidentRow:
    """What an incident's timeline adds up to now (the `incidents` table)."""
    id: str
    opened_at: float
    summary: str
    state: str                 # open | closed
    disposition: str | None
    closed_at: float | None    # the newest close; None while open
    updated_at: float          # the newest entry's time
    entries: int
    alarm_dog: str | None
    alarm_event: str | None

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "opened_at": self.opened_at, "summary": self.summary,
                "state": self.state, "disposition": self.disposition, "closed_at": self.closed_at,
                "updated_at": self.updated_at, "entries": self.entries,
                "alarm": ({"dog": self.alarm_dog, "event": self.alarm_event}
                          if self.alarm_dog is not None else None)}


@dataclass(frozen=True)
class UnitRow:
    incident: str
    unit: str
    kind: str        # dog | officer
    status: str      # robot_dog.station.incidents.UNIT_STATUSES
    since: float     # when it reached that status


class IncidentTables(DirectTables):
    """Storage of incidents (`target`: SQLite file or postgresql:// URL, the station's --db)."""

    # --- writes ----------------------------------------------------------------------------
    def create(self, incident: Incident, alarm: tuple[str, str] | None = None) -> bool:
        """Store a new incident with its first entries; False if the id is taken."""
        with self._transaction() as cur:
            cur.execute(self.backend.sql(
                f"INSERT INTO incidents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING"),
                (incident.id, incident.opened_at, incident.summary, *self._state(incident),
                 len(incident.timeline), *(alarm or (None, None))))
            if cur.rowcount != 1:
                return False
            self._write(cur, incident, 0)
        return True

    def append(self, incident: Incident, expected: int) -> None:
        """Store the entries of `incident` from `expected` on (those its action appended to the
        timeline as read) and what they changed, in one transaction; TimelineConflict if the
        stored timeline is no longer `expected` entries long."""
        with self._transaction() as cur:
            # The guard: only the writer that read `expected` entries moves the count on
            # (PostgreSQL makes a concurrent one wait on the row, then finds it changed).
            cur.execute(self.backend.sql(
                "UPDATE incidents SET state = ?, disposition = ?, closed_at = ?, "
                "updated_at = ?, entries = ? WHERE id = ? AND entries = ?"),
                (*self._state(incident), len(incident.timeline), incident.id, expected))
            if cur.rowcount != 1:
                raise TimelineConflict(f"incident {incident.id} changed since it was read")
            self._write(cur, incident, expected)

    def _write(self, cur: Any, incident: Incident, start: int) -> None:
        """The entries from `start` on, and the units they touched (their status now)."""
        sql = self.backend.sql
        touched: dict[str, float] = {}
        for seq, entry in enumerate(incident.timeline[start:], start):
            cur.execute(sql(_ENTRY_INSERT), (incident.id, seq, entry.at, entry.by, entry.kind,
                                             entry.unit, json.dumps(entry.data, ensure_ascii=False)))
            if entry.unit in incident.units and entry.kind in ("dog_dispatched", "officer_assigned",
                                                                 "unit_status"):
                touched[entry.unit] = entry.at
        for unit, since in touched.items():
            kind, status = incident.units[unit]
            cur.execute(sql("INSERT INTO incident_units (incident, unit, kind, status, since) "
                            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident, unit) DO UPDATE SET "
                            "kind = excluded.kind, status = excluded.status, since = excluded.since"),
                        (incident.id, unit, kind, status, since))

    @staticmethod
    def _state(incident: Incident) -> tuple[Any, ...]:
        """(state, disposition, closed_at, updated_at) of the `incidents` row."""
        closed_at = (next((e.at for e in reversed(incident.timeline) if e.kind == "closed"), None)
                     if incident.closed else None)   # a note may follow the close
        return ("closed" if incident.closed else "open", incident.disposition, closed_at,
                incident.timeline[-1].at)

    # --- reads -----------------------------------------------------------------------------
    def entries(self, incident_id: str) -> list[Entry]:
        """The timeline in order ([] for an unknown incident)."""
        return [Entry(at, by, kind, unit, json.loads(data))
                for at, by, kind, unit, data in self._run(_ENTRY_SELECT, (incident_id,))]

    def row(self, incident_id: str) -> IncidentRow | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
        return IncidentRow(*rows[0]) if rows else None

    def units(self, *incident_ids: str) -> list[UnitRow]:
        """The units of these incidents (one query for a whole list), in the order they joined."""
        if not incident_ids:
            return []
        marks = ", ".join("?" * len(incident_ids))
        rows = self._run("SELECT incident, unit, kind, status, since FROM incident_units "
                         f"WHERE incident IN ({marks}) ORDER BY since, unit", tuple(incident_ids))
        return [UnitRow(*r) for r in rows]

    def find(self, *, state: str | None = None, dog: str | None = None,
             officer: str | None = None, since: float | None = None, until: float | None = None,
             limit: int = 100) -> list[IncidentRow]:
        """Incidents newest first: in `state` (open, closed); with `dog` as a unit or as the
        alarm's dog; with `officer` as a unit; open at some time in [since, until] (s since
        the epoch: opened before `until`, and closed after `since` or still open)."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if dog is not None:
            where.append("(alarm_dog = ? OR id IN (SELECT incident FROM incident_units "
                         "WHERE unit = ? AND kind = 'dog'))")
            params += [dog, dog]
        if officer is not None:
            where.append("id IN (SELECT incident FROM incident_units WHERE unit = ? AND "
                         "kind = 'officer')")
            params.append(officer)
        if until is not None:
            where.append("opened_at <= ?")
            params.append(until)
        if since is not None:
            where.append("(closed_at IS NULL OR closed_at >= ?)")
            params.append(since)
        text = (f"SELECT {_COLUMNS} FROM incidents {'WHERE ' + ' AND '.join(where) if where else ''} "
                "ORDER BY opened_at DESC, id LIMIT ?")
        return [IncidentRow(*r) for r in self._run(text, (*params, max(1, min(limit, MAX_LIST))))]

    def active(self, unit: str) -> list[str]:
        """Open incidents on which `unit` is not cleared, the one it joined last first."""
        rows = self._run("SELECT u.incident FROM incident_units u JOIN incidents i ON "
                         "i.id = u.incident WHERE u.unit = ? AND u.status <> 'cleared' AND "
                         "i.state = 'open' ORDER BY u.since DESC", (unit,))
        return [r[0] for r in rows]

    def open_for_alarm(self, dog: str, event: str) -> str | None:
        """The open incident an alarm (dog, event id) already opened, if any."""
        rows = self._run("SELECT id FROM incidents WHERE alarm_dog = ? AND alarm_event = ? AND "
                         "state = 'open' ORDER BY opened_at", (dog, event))
        return rows[0][0] if rows else None

