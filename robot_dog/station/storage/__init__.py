"""Station data layer: one schema, two databases (SQLite in WAL mode, PostgreSQL by URL).

Ingest callbacks never touch the database: they enqueue rows, and one writer thread commits
them in batches (one transaction per batch), which is what lets the station keep up with
thousands of telemetry messages per second. The SQL is written once with `?` placeholders;
the backend only says how to connect, how to spell a few types, and how to bulk-insert
(executemany for SQLite, COPY through a staging table for PostgreSQL). Ingest is idempotent:
MQTT QoS 1 delivers at least once, so every message has a unique key and is inserted or
ignored (telemetry (dog, seq), events (dog, id), command answers (dog, nonce, ts, code)), and
several station workers can share one PostgreSQL (docs/scale_out.md). The audit log keeps the
first result of a command from the dog it was addressed to; every answer is kept apart
(`command_results`). Messages that can never be stored go to a bounded `dead_letters` table.

    Storage("var/station.db")                       SQLite file (WAL)
    Storage("postgresql://user@127.0.0.1:5432/db")  PostgreSQL (psycopg 3)

Modules, one job each: `rows` (what ingest and the API hand in), `schema` (the tables and the
SQL each row becomes), `backends` (SQLite and PostgreSQL: connect, DDL, bulk insert), `writer`
(`Storage`: the batched writer thread) and `reads` (the queries the web API and summaries use).
"""
from robot_dog.station.storage.rows import (AlarmAckRow, CommandRow, DeadLetterRow, EventRow,
                                            EvidenceItemRow, EvidenceRecordingRow, FrameRow,
                                            RegisteredDog, ResultRow, Row, StatusRow, TelemetryRow)
from robot_dog.station.storage.schema import DEAD_LETTERS_KEPT, SCHEMA
from robot_dog.station.storage.writer import Storage, StorageError

__all__ = ["AlarmAckRow", "DEAD_LETTERS_KEPT", "SCHEMA", "CommandRow", "DeadLetterRow", "EventRow",
           "EvidenceItemRow", "EvidenceRecordingRow", "FrameRow",
           "RegisteredDog", "ResultRow", "Row", "StatusRow", "Storage", "StorageError", "TelemetryRow"]
