"""The dog's outbox: a bounded on-disk FIFO for events, telemetry and evidence (docs/mqtt.md).

A message leaves the outbox only when the broker acknowledged it (PUBACK): `peek` reads, `ack`
removes. It lives in SQLite in WAL mode, so it survives a restart of the node or the dog, and
RAM stays constant however long the outage: nothing of the backlog is held in memory, `peek`
reads a bounded window.

Bound and drop policy: the stored bytes (topic + payload) never exceed `max_bytes`
(default 100 MB). When a new message does not fit, the oldest messages of the lowest class are
dropped first: evidence chunks (the uploader sends them again: the recorder keeps the files
until the station holds them), then telemetry (oldest first), then events (oldest first). A message never evicts a
message of a higher class: telemetry arriving to an outbox full of events is itself dropped.
Each drop is counted (`dropped`) and logged, so telemetry can report it.

Durability: `synchronous=NORMAL` in WAL mode survives a process crash; on power loss the last
~second of puts may be lost (events that must never be lost are on the bodycam's hash chain).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from robot_dog.mqtt.errors import MqttLinkError
from robot_dog.mqtt.private_file import private_file

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class Priority(IntEnum):
    """Drop order when full: lowest first. EVIDENCE is also sent last: the uploader admits a
    chunk only while no message of a higher class waits (robot_dog/uplink/evidence_upload.py)."""
    EVIDENCE = -1
    TELEMETRY = 0
    EVENT = 1


class OutboxError(MqttLinkError):
    """The outbox cannot take or give messages (disk, corruption, misuse)."""


class MessageTooLarge(OutboxError, ValueError):
    """A single message larger than the whole bound."""


@dataclass(frozen=True)
class Entry:
    id: int  # increasing: FIFO order
    topic: str
    payload: bytes
    qos: int
    priority: Priority
    created: float  # s since the Unix epoch, when put


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_drop_order ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def entry_size(topic: str, payload: bytes) -> int:
    """Bytes a message counts against the bound."""
    return len(topic.encode("utf-8")) + len(payload)


class Outbox:
    """Bounded, persistent, acknowledged FIFO. Thread-safe (node thread puts, MQTT thread acks)."""

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *,
                 clock: Callable[[], float] = time.time):
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.path, self.max_bytes, self._clock = Path(path), max_bytes, clock
        self._lock = threading.Lock()
        try:
            private_file(self.path)  # queued telemetry (positions): owner only, -wal/-shm too
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-2048")  # KiB: page cache bounded, not the backlog
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM outbox").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {self.path}: {exc}") from exc
        self._bytes, self._count = int(row[0]), int(row[1])
        if self._count:
            _LOGGER.info("outbox %s: %d messages (%d bytes) waiting from before restart",
                         self.path, self._count, self._bytes)

    # --- state ---------------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return self._count

    @property
    def dropped(self) -> int:
        """Messages dropped by the drop policy over the outbox's whole life (persisted)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> dict[Priority, int]:
        """Messages waiting per class (read from disk: the index covers it)."""
        with self._lock:
            rows = self._db.execute("SELECT priority, COUNT(*) FROM outbox GROUP BY priority").fetchall()
        return {Priority(p): int(n) for p, n in rows}

    # --- producer ------------------------------------------------------------------------------
    def put(self, topic: str, payload: bytes, qos: int = 1,
            priority: Priority = Priority.EVENT) -> int | None:
        """Store a message; return its id, or None if the drop policy discarded it at once."""
        size = entry_size(topic, payload)
        if size > self.max_bytes:
            raise MessageTooLarge(f"{size} bytes exceeds the outbox bound of {self.max_bytes}")
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, not {qos}")
        priority = Priority(priority)
        with self._lock:
            try:
                with self._transaction():
                    need = self._bytes + size - self.max_bytes
                    if need > 0 and not self._make_room(need, priority):
                        self._count_drops(1)
                        _LOGGER.warning("outbox full: dropped new %s message on %s",
                                        priority.name, topic)
                        return None
                    cur = self._db.execute(
                        "INSERT INTO outbox (priority, topic, payload, qos, size, created) "
                        "VALUES (?,?,?,?,?,?)",
                        (int(priority), topic, payload, qos, size, self._clock()))
            except sqlite3.Error as exc:
                self._recount()
                raise OutboxError(f"outbox {self.path}: put failed: {exc}") from exc
            self._bytes += size
            self._count += 1
            assert cur.lastrowid is not None  # an INSERT always sets it
            return int(cur.lastrowid)

    def _make_room(self, need: int, priority: Priority) -> bool:
        """Delete oldest messages of class <= priority, lowest class first, freeing >= need bytes.

        All or nothing: if even deleting every candidate would not free enough, delete nothing.
        """
        victims, freed = [], 0
        rows = self._db.execute(
            "SELECT id, size FROM outbox WHERE priority <= ? ORDER BY priority, id", (int(priority),))
        for row_id, row_size in rows:  # streamed from disk, stops as soon as enough is found
            victims.append(row_id)
            freed += row_size
            if freed >= need:
                break
        rows.close()
        if freed < need:
            return False
        self._db.executemany("DELETE FROM outbox WHERE id = ?", ((v,) for v in victims))
        self._bytes -= freed
        self._count -= len(victims)
        self._count_drops(len(victims))
        _LOGGER.warning("outbox full: dropped %d oldest message(s) (%d bytes)", len(victims), freed)
        return True

    def _count_drops(self, n: int) -> None:
        self._db.execute("INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (n,))

    # --- consumer ------------------------------------------------------------------------------
    def peek(self, limit: int = 1, after_id: int = 0) -> list[Entry]:
        """Up to `limit` oldest messages with id > after_id, in FIFO order; nothing is removed."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, priority, created FROM outbox WHERE id > ? "
                "ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [Entry(r[0], r[1], bytes(r[2]), r[3], Priority(r[4]), r[5]) for r in rows]

    def ack(self, entry_id: int) -> bool:
        """Remove a delivered message. False if it was gone already (dropped, or acked twice)."""
        with self._lock:
            try:
                row = self._db.execute("DELETE FROM outbox WHERE id = ? RETURNING size",
                                       (entry_id,)).fetchall()  # all: finalizes the statement
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path}: ack failed: {exc}") from exc
            if not row:
                return False
            self._bytes -= int(row[0][0])
            self._count -= 1
            return True

    def _recount(self) -> None:
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM outbox").fetchone()
        self._bytes, self._count = int(row[0]), int(row[1])

    # --- lifecycle -----------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error (so the byte counter never drifts from disk)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
