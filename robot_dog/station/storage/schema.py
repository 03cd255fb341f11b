"""The tables (one DDL for both backends) and the SQL each row becomes, in one global lock order."""
from __future__ import annotations

import json
from typing import Any

from robot_dog.station.storage.rows import (AlarmAckRow, CommandRow, DeadLetterRow, EventRow,
                                            EvidenceItemRow, EvidenceRecordingRow, FrameRow,
                                            RegisteredDog, ResultRow, Row, StatusRow)

# {REAL} and {ID} differ per backend; everything else is shared SQL.
SCHEMA = """
CREATE TABLE IF NOT EXISTS dogs (
    dog TEXT PRIMARY KEY, status TEXT NOT NULL, last_seen {REAL}, registered INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS telemetry (
    id {ID}, dog TEXT NOT NULL, received {REAL} NOT NULL, seq BIGINT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS telemetry_dog_id ON telemetry (dog, id);
CREATE UNIQUE INDEX IF NOT EXISTS telemetry_dog_seq ON telemetry (dog, seq);
CREATE TABLE IF NOT EXISTS frames (
    dog TEXT NOT NULL, camera TEXT NOT NULL, count BIGINT NOT NULL, bytes BIGINT NOT NULL,
    last_received {REAL} NOT NULL, PRIMARY KEY (dog, camera));
CREATE TABLE IF NOT EXISTS events (
    dog TEXT NOT NULL, id TEXT NOT NULL, ts {REAL} NOT NULL, received {REAL} NOT NULL,
    type TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (dog, id));
CREATE INDEX IF NOT EXISTS events_dog_ts ON events (dog, ts);
CREATE TABLE IF NOT EXISTS commands (
    nonce TEXT PRIMARY KEY, dog TEXT NOT NULL, verb TEXT, args TEXT, issuer TEXT,
    issued_at {REAL}, code TEXT, ok INTEGER, message TEXT, result_at {REAL});
CREATE INDEX IF NOT EXISTS commands_dog ON commands (dog, issued_at);
CREATE TABLE IF NOT EXISTS command_results (
    id {ID}, nonce TEXT NOT NULL, dog TEXT NOT NULL, ts {REAL} NOT NULL, received {REAL} NOT NULL,
    code TEXT NOT NULL, ok INTEGER NOT NULL, message TEXT NOT NULL, UNIQUE (dog, nonce, ts, code));
CREATE INDEX IF NOT EXISTS command_results_nonce ON command_results (nonce);
CREATE TABLE IF NOT EXISTS dead_letters (
    id {ID}, topic TEXT NOT NULL, size BIGINT NOT NULL, reason TEXT NOT NULL,
    received {REAL} NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_acks (
    dog TEXT NOT NULL, event_id TEXT NOT NULL, acked_by TEXT NOT NULL, acked_at {REAL} NOT NULL,
    PRIMARY KEY (dog, event_id));
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT,
    disabled INTEGER NOT NULL DEFAULT 0, created_at {REAL} NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, account TEXT NOT NULL, address TEXT NOT NULL,
    created_at {REAL} NOT NULL, last_seen {REAL} NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, account TEXT NOT NULL, label TEXT NOT NULL,
    created_at {REAL} NOT NULL, revoked_at {REAL});
CREATE TABLE IF NOT EXISTS pairings (
    dog TEXT PRIMARY KEY, officer TEXT NOT NULL, issued_by TEXT NOT NULL,
    issued_at {REAL} NOT NULL);
CREATE INDEX IF NOT EXISTS pairings_officer ON pairings (officer);
CREATE TABLE IF NOT EXISTS audit (
    id {ID}, at {REAL} NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, target TEXT NOT NULL,
    address TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, id);
CREATE TABLE IF NOT EXISTS evidence_recordings (
    dog TEXT NOT NULL, recording TEXT NOT NULL, device TEXT NOT NULL, officer TEXT NOT NULL,
    reason TEXT NOT NULL, started_at {REAL} NOT NULL, ended_at {REAL}, locked INTEGER NOT NULL,
    items INTEGER NOT NULL, received {REAL} NOT NULL, PRIMARY KEY (dog, recording));
CREATE INDEX IF NOT EXISTS evidence_recordings_dog_start ON evidence_recordings (dog, started_at);
CREATE TABLE IF NOT EXISTS evidence_items (
    dog TEXT NOT NULL, recording TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL,
    file TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL, start_at {REAL} NOT NULL,
    end_at {REAL} NOT NULL, state TEXT NOT NULL, verified_at {REAL},
    PRIMARY KEY (dog, recording, seq));
"""
#: The accounts' tables (storage/accounts.py) are written at once, not through the batched
#: writer: a login, a revocation or an audit line must hold before the answer leaves. The
#: `audit` table is append-only: no statement in the station updates or deletes its rows.
#: Newest dead letters kept; older ones are deleted as new ones arrive (a flood cannot fill
#: the disk; the counters in the station's summary and logs keep the totals).
DEAD_LETTERS_KEPT = 10_000

#: Incidents (storage/incident_tables.py; written at once, not through the batched writer: a
#: dispatch must hold before its answer). `incident_entries` is the fact, append-only like
#: `audit`: the timeline of each incident, numbered from 0 by `seq` (unique per incident, so
#: two workers appending at once cannot both take the same place). `incidents` and
#: `incident_units` are what the timeline adds up to now (state, disposition, each unit's
#: status), written in the same transaction as the entries that change them: the lists and
#: filters read them without replaying every timeline.
INCIDENT_TABLES = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, opened_at {REAL} NOT NULL, summary TEXT NOT NULL, state TEXT NOT NULL,
    disposition TEXT, closed_at {REAL}, updated_at {REAL} NOT NULL, entries INTEGER NOT NULL,
    alarm_dog TEXT, alarm_event TEXT);
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents (opened_at);
CREATE TABLE IF NOT EXISTS incident_entries (
    incident TEXT NOT NULL, seq INTEGER NOT NULL, at {REAL} NOT NULL, actor TEXT NOT NULL,
    kind TEXT NOT NULL, unit TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (incident, seq));
CREATE TABLE IF NOT EXISTS incident_units (
    incident TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    since {REAL} NOT NULL, PRIMARY KEY (incident, unit));
CREATE INDEX IF NOT EXISTS incident_units_unit ON incident_units (unit, status);
"""


_UPSERT = {
    FrameRow: "INSERT INTO frames VALUES (?, ?, 1, ?, ?) ON CONFLICT (dog, camera) DO UPDATE SET "
              "count = frames.count + 1, bytes = frames.bytes + excluded.bytes, "
              "last_received = excluded.last_received",
    StatusRow: "INSERT INTO dogs (dog, status, last_seen) VALUES (?, ?, ?) ON CONFLICT (dog) "
               "DO UPDATE SET status = excluded.status, last_seen = excluded.last_seen",
    EventRow: "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dog, id) DO NOTHING",
    # The first result from the addressed dog completes the audit row; later answers (a replay
    # answered `replayed`) and answers from another dog never change it.
    ResultRow: "INSERT INTO commands (nonce, dog, verb, code, ok, message, result_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (nonce) DO UPDATE SET code = excluded.code, "
               "ok = excluded.ok, message = excluded.message, result_at = excluded.result_at "
               "WHERE commands.code IS NULL AND commands.dog = excluded.dog",
    # A result may be stored first (another worker took it): the command fills in the rest.
    CommandRow: "INSERT INTO commands (nonce, dog, verb, args, issuer, issued_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (nonce) DO UPDATE SET verb = excluded.verb, "
                "args = excluded.args, issuer = excluded.issuer, issued_at = excluded.issued_at "
                "WHERE commands.dog = excluded.dog AND commands.issuer IS NULL",
    DeadLetterRow: "INSERT INTO dead_letters (topic, size, reason, received, detail) "
                   "VALUES (?, ?, ?, ?, ?)",
    # A later manifest of a recording lists as many entries or more (the intake checks it).
    EvidenceRecordingRow: "INSERT INTO evidence_recordings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT (dog, recording) DO UPDATE SET ended_at = excluded.ended_at, "
                          "locked = excluded.locked, items = excluded.items, received = excluded.received "
                          "WHERE excluded.items >= evidence_recordings.items",
    # `verified` is final: a manifest arriving again never turns an item back to `pending`.
    EvidenceItemRow: "INSERT INTO evidence_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (dog, recording, seq) DO UPDATE SET state = excluded.state, "
                     "verified_at = excluded.verified_at WHERE evidence_items.state <> 'verified'",
    RegisteredDog: "INSERT INTO dogs (dog, status, registered) VALUES (?, 'offline', 1) "
                   "ON CONFLICT (dog) DO UPDATE SET registered = 1",
    # The first acknowledgement of an alarm is the one on record.
    AlarmAckRow: "INSERT INTO alarm_acks VALUES (?, ?, ?, ?) ON CONFLICT (dog, event_id) DO NOTHING",
}
#: Every answer to a command, as its own audit entry (idempotent under redelivery).
_ANSWER = ("INSERT INTO command_results (nonce, dog, ts, received, code, ok, message) "
           "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
_TRIM_DEAD = "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?"
_SEEN = ("INSERT INTO dogs (dog, status, last_seen) VALUES (?, 'unknown', ?) ON CONFLICT (dog) "
         "DO UPDATE SET last_seen = excluded.last_seen "
         "WHERE dogs.last_seen IS NULL OR dogs.last_seen < excluded.last_seen")


def _lock_order(row: Row) -> tuple[Any, ...]:
    """Where a row's upsert falls in the global lock order: table, then key."""
    if isinstance(row, (StatusRow, RegisteredDog)):
        return (0, row.dog, 0)             # dogs; this dog's last_seen update follows (0, dog, 1)
    if isinstance(row, EventRow):
        return (1, row.dog, row.doc["id"])
    if isinstance(row, FrameRow):
        return (2, row.dog, row.camera)
    if isinstance(row, ResultRow):
        return (3, row.doc["nonce"])
    if isinstance(row, CommandRow):
        return (3, row.nonce)
    if isinstance(row, DeadLetterRow):
        return (5,)
    if isinstance(row, AlarmAckRow):
        return (6, row.dog, row.event_id)
    if isinstance(row, EvidenceRecordingRow):
        return (7, row.dog, row.recording)
    if isinstance(row, EvidenceItemRow):
        return (8, row.dog, row.recording, row.seq)
    raise TypeError(f"not a storage row: {row!r}")


def _params(row: Row) -> tuple[Any, ...]:
    if isinstance(row, FrameRow):
        return (row.dog, row.camera, row.size, row.received)
    if isinstance(row, StatusRow):
        return (row.dog, row.status, row.received)
    if isinstance(row, EventRow):
        d = row.doc
        return (row.dog, d["id"], d["ts"], row.received, d["type"], d["severity"],
                d.get("message", ""), json.dumps(d))
    if isinstance(row, ResultRow):
        d = row.doc
        return (d["nonce"], row.dog, d.get("verb"), d["code"], int(d["ok"]), d.get("message", ""),
                row.received)
    if isinstance(row, CommandRow):
        return (row.nonce, row.dog, row.verb, json.dumps(row.args), row.issuer, row.issued_at)
    if isinstance(row, DeadLetterRow):
        return (row.topic[:256], row.size, row.reason, row.received, row.detail[:256])
    if isinstance(row, RegisteredDog):
        return (row.dog,)
    if isinstance(row, AlarmAckRow):
        return (row.dog, row.event_id[:64], row.acked_by[:64], row.acked_at)
    if isinstance(row, EvidenceRecordingRow):
        return (row.dog, row.recording, row.device, row.officer, row.reason, row.started_at,
                row.ended_at, int(row.locked), row.items, row.received)
    if isinstance(row, EvidenceItemRow):
        return (row.dog, row.recording, row.seq, row.kind, row.file, row.size, row.sha256,
                row.start, row.end, row.state, row.verified_at)
    raise TypeError(f"not a storage row: {row!r}")


def _answer_params(row: ResultRow) -> tuple[Any, ...]:
    d = row.doc
    return (d["nonce"], row.dog, d.get("ts", row.received), row.received, d["code"], int(d["ok"]),
            d.get("message", ""))
