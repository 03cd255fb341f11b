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
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from robot_dog.private_file import private_file

_LOGGER = logging.getLogger(__name__)

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
"""
#: Newest dead letters kept; older ones are deleted as new ones arrive (a flood cannot fill
#: the disk; the counters in the station's summary and logs keep the totals).
DEAD_LETTERS_KEPT = 10_000



class StorageError(Exception):
    """The database cannot be opened or written."""


# --- rows --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TelemetryRow:
    dog: str
    received: float
    doc: dict[str, Any]
    raw: str | None = None  # the validated payload as received: stored as is, not re-serialised


@dataclass(frozen=True)
class FrameRow:
    dog: str
    camera: str
    size: int
    received: float


@dataclass(frozen=True)
class StatusRow:
    dog: str
    status: str
    received: float


@dataclass(frozen=True)
class EventRow:
    dog: str
    received: float
    doc: dict[str, Any]


@dataclass(frozen=True)
class ResultRow:
    """A cmd/result from a dog: completes the audit row of its command (matched by nonce)."""
    dog: str
    received: float
    doc: dict[str, Any]


@dataclass(frozen=True)
class DeadLetterRow:
    """A message that can never be stored (refused by ingest): kept for diagnosis, then acked."""
    topic: str
    size: int
    reason: str
    received: float
    detail: str = ""


@dataclass(frozen=True)
class CommandRow:
    """Audit: who sent what to which dog, when (the result arrives later as a ResultRow)."""
    nonce: str
    dog: str
    verb: str
    args: dict[str, Any]
    issuer: str
    issued_at: float


@dataclass(frozen=True)
class RegisteredDog:
    """A dog known from the fleet directory (shown offline until it says otherwise)."""
    dog: str


Row = (TelemetryRow | FrameRow | StatusRow | EventRow | ResultRow | CommandRow | RegisteredDog
       | DeadLetterRow)

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
    RegisteredDog: "INSERT INTO dogs (dog, status, registered) VALUES (?, 'offline', 1) "
                   "ON CONFLICT (dog) DO UPDATE SET registered = 1",
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
    raise TypeError(f"not a storage row: {row!r}")


def _answer_params(row: ResultRow) -> tuple[Any, ...]:
    d = row.doc
    return (d["nonce"], row.dog, d.get("ts", row.received), row.received, d["code"], int(d["ok"]),
            d.get("message", ""))


# --- backends ----------------------------------------------------------------------------------
class _Sqlite:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_file(self.path)  # positions and the audit log: before SQLite creates it 0644

    def connect(self) -> Any:
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, fast commits
        return db

    def sql(self, text: str) -> str:
        return text

    def ddl(self) -> str:
        return SCHEMA.format(REAL="REAL", ID="INTEGER PRIMARY KEY")

    def create(self, db: Any) -> None:
        statements = list(filter(str.strip, self.ddl().split(";")))
        _create(db, statements, db.execute)

    def insert_telemetry(self, db: Any, rows: list[tuple[Any, ...]]) -> None:
        db.executemany("INSERT INTO telemetry (dog, received, seq, doc) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT DO NOTHING", rows)

    def transient(self, exc: Exception) -> bool:
        """Worth retrying as is: the database was busy or locked, not the data wrong."""
        return isinstance(exc, sqlite3.OperationalError)


class _Postgres:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg  # only needed for this backend
        self._psycopg, self.url = psycopg, url

    def connect(self) -> Any:
        return self._psycopg.connect(self.url, connect_timeout=10)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def ddl(self) -> str:
        return SCHEMA.format(REAL="DOUBLE PRECISION", ID="BIGSERIAL PRIMARY KEY")

    def create(self, db: Any) -> None:
        with db.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7231)")  # workers starting together: one creates
            db.commit()
            try:
                _create(db, list(filter(str.strip, self.ddl().split(";"))), cur.execute)
            finally:
                cur.execute("SELECT pg_advisory_unlock(7231)")
                db.commit()

    def insert_telemetry(self, db: Any, rows: list[tuple[Any, ...]]) -> None:
        # COPY cannot skip duplicates: copy into a staging table of this connection, then
        # insert-or-ignore from it in arrival order.
        with db.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS telemetry_in (n BIGSERIAL, dog TEXT, "
                        "received DOUBLE PRECISION, seq BIGINT, doc TEXT) ON COMMIT DELETE ROWS")
            with cur.copy("COPY telemetry_in (dog, received, seq, doc) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute("INSERT INTO telemetry (dog, received, seq, doc) SELECT dog, received, "
                        "seq, doc FROM telemetry_in ORDER BY n ON CONFLICT DO NOTHING")

    def transient(self, exc: Exception) -> bool:
        """Lost connection, deadlock, serialization failure (TransactionRollback is an
        OperationalError in psycopg): retry; a data error is not."""
        return isinstance(exc, self._psycopg.OperationalError)


def _create(db: Any, statements: list[str], execute: Callable[..., Any]) -> None:
    """Run the DDL. A database from before telemetry was unique on (dog, seq) may hold
    duplicates (at-least-once delivery): keep the first copy of each, then add the index."""
    for statement in statements:
        try:
            execute(statement)
            db.commit()
        except Exception:
            if "telemetry_dog_seq" not in statement:
                raise
            db.rollback()
            _LOGGER.warning("storage: removing duplicate telemetry rows before indexing (dog, seq)")
            execute("DELETE FROM telemetry WHERE seq IS NOT NULL AND id NOT IN "
                    "(SELECT min(id) FROM telemetry GROUP BY dog, seq)")
            execute(statement)
            db.commit()


def _backend(target: str | Path) -> _Sqlite | _Postgres:
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return _Postgres(text)
    return _Sqlite(Path(text))


class _Broken:
    """Stands in for a connection that could not be reopened: every use fails as transient
    (the caller's retry loop reconnects through _rollback)."""

    def __getattr__(self, name: str) -> Any:
        raise ConnectionError("database connection lost")


class Storage:
    """Batched writer on one thread; reads on their own connection (WAL / MVCC allow both).

    `put` is the ingest hot path: append to a list under one C-level lock, no queue.Queue, no
    per-row wake-up. The writer swaps the whole list out, commits it as one transaction (in
    chunks of `batch_max`), then lingers `linger_s` so a burst arrives as one batch instead of
    one commit per row; an idle writer is woken by the first row only.
    """

    def __init__(self, target: str | Path, batch_max: int = 5000, flush_interval_s: float = 0.1,
                 linger_s: float = 0.005) -> None:
        self.backend = _backend(target)
        self.batch_max, self.flush_interval_s, self.linger_s = batch_max, flush_interval_s, linger_s
        try:
            db = self.backend.connect()
            self.backend.create(db)
            db.close()
        except Exception as exc:  # sqlite3.Error / psycopg.Error: one message for the CLI
            raise StorageError(f"cannot open {self.backend.name} storage: {exc}") from exc
        self._read_lock = threading.Lock()
        self._reader = self.backend.connect()
        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)
        self._rows: list[Row | Callable[[], None]] = []
        self._pending = 0        # put but not committed yet (under _lock)
        self._idle = False       # the writer waits for _wake (under _lock)
        self._closing = False
        self._wake = threading.Event()
        self.failed_batches = 0
        self.batches = 0
        self._writer = threading.Thread(target=self._write_loop, name="storage-writer", daemon=True)
        self._writer.start()

    def put(self, row: Row) -> None:
        self._enqueue(row)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the writer thread once every row put before it is settled
        (committed, or refused for its data and logged); never if the writer closes with the
        database unavailable. The station acknowledges MQTT messages with it."""
        self._enqueue(callback)  # in the row list, told apart by _write_loop (rows are not callable)

    def _enqueue(self, item: Row | Callable[[], None]) -> None:
        with self._lock:
            self._rows.append(item)
            self._pending += 1
            wake, self._idle = self._idle, False
        if wake:
            self._wake.set()

    @property
    def backlog(self) -> int:
        """Rows queued but not committed yet."""
        return self._pending

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row put so far is committed."""
        with self._flushed:
            return self._flushed.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        with self._lock:
            self._closing = True
        self._wake.set()
        self._writer.join(timeout=10)
        with self._read_lock:
            self._reader.close()

    def _write_loop(self) -> None:
        db = self.backend.connect()
        while True:
            with self._lock:
                rows, self._rows = self._rows, []
                if not rows:
                    if self._closing:
                        break
                    self._idle = True
            if not rows:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                continue
            for i in range(0, len(rows), self.batch_max):
                batch = rows[i:i + self.batch_max]
                callbacks = [r for r in batch if callable(r)]
                if callbacks:
                    batch = [r for r in batch if not callable(r)]
                db, settled = self._commit(db, batch)
                for callback in callbacks if settled else ():
                    try:
                        callback()
                    except Exception:  # noqa: BLE001
                        _LOGGER.exception("storage: an after-commit callback failed")
            with self._flushed:
                self._pending -= len(rows)
                self._flushed.notify_all()
            if len(rows) < self.batch_max and self.linger_s > 0:
                time.sleep(self.linger_s)  # let the next burst gather: one commit, not hundreds
        try:
            db.close()
        except Exception:  # noqa: BLE001  (already gone)
            pass

    def _commit(self, db: Any, batch: list[Row]) -> tuple[Any, bool]:
        """Commit `batch`; returns the connection to go on with (a new one after a lost one) and
        whether the batch is settled (committed, or refused for its data and logged).

        A transient failure (busy or lost database, deadlock between workers) is retried with
        back-off until it succeeds, holding the rows behind it: nothing is acked meanwhile, so
        the broker keeps the rest. A batch the database refuses for its data is committed row
        by row and only the refused rows are dropped, each with a log line. Only when closing
        with the database still unavailable is a batch left unsettled (and so never acked).
        """
        attempt = 0
        while True:
            try:
                self._write_batch(db, batch)
                db.commit()
                self.batches += 1
                return db, True
            except Exception as exc:  # noqa: BLE001  (a bad batch must not stop the writer)
                db = self._rollback(db)
                if isinstance(exc, ConnectionError) or self.backend.transient(exc):
                    attempt += 1
                    if self._closing and attempt > 3:
                        self.failed_batches += 1
                        _LOGGER.error("storage: closing with the database unavailable: %d rows "
                                      "not stored and not acknowledged (%s)", len(batch), exc)
                        return db, False
                    if attempt in (1, 10) or attempt % 100 == 0:
                        _LOGGER.warning("storage: %d rows not committed yet (%s: %s); retry %d",
                                        len(batch), type(exc).__name__, exc, attempt)
                    time.sleep(min(0.05 * 2 ** min(attempt, 6), 2.0))
                    continue
                self.failed_batches += 1
                if len(batch) == 1:
                    _LOGGER.error("storage: a %s failed to commit, dropped: %s: %s",
                                  type(batch[0]).__name__, type(exc).__name__, exc)
                    return db, True
                _LOGGER.error("storage: a batch of %d rows failed to commit (%s: %s); "
                              "committing them one by one", len(batch), type(exc).__name__, exc)
                settled = True
                for row in batch:
                    db, ok = self._commit(db, [row])
                    settled = settled and ok
                return db, settled

    def _rollback(self, db: Any) -> Any:
        try:
            db.rollback()
            return db
        except Exception:  # noqa: BLE001  (connection gone: open a new one)
            try:
                db.close()
            except Exception:  # noqa: BLE001
                pass
            try:
                return self.backend.connect()
            except Exception as exc:  # noqa: BLE001  (still down: the retry loop waits)
                _LOGGER.warning("storage: cannot reconnect yet: %s", exc)
                return _Broken()

    def _write_batch(self, db: Any, batch: list[Row]) -> None:
        sql = self.backend.sql
        telemetry: list[tuple[Any, ...]] = []
        other: list[tuple[tuple[Any, ...], int, Row]] = []
        seen: dict[str, float] = {}
        for i, r in enumerate(batch):
            if type(r) is TelemetryRow:
                telemetry.append((r.dog, r.received, r.doc.get("seq"), r.raw or json.dumps(r.doc)))
            else:
                other.append((_lock_order(r), i, r))
                if type(r) is not EventRow:
                    continue
            if seen.get(r.dog, 0.0) < r.received:
                seen[r.dog] = r.received
        if telemetry:
            self.backend.insert_telemetry(db, telemetry)
        # Every transaction locks rows in one global order (table, then key; arrival order within
        # a key), so station workers sharing PostgreSQL never deadlock on each other.
        statements = [(key, i, _UPSERT[type(r)], _params(r)) for key, i, r in other]
        statements += [((0, dog, 1), 0, _SEEN, (dog, ts)) for dog, ts in seen.items()]
        statements += [((4, r.dog, r.doc["nonce"]), i, _ANSWER, _answer_params(r))
                       for _, i, r in other if type(r) is ResultRow]
        if any(type(r) is DeadLetterRow for _, _, r in other):
            statements.append(((6,), 0, _TRIM_DEAD, (DEAD_LETTERS_KEPT,)))
        statements.sort(key=lambda s: (s[0], s[1]))
        cur = db.cursor()
        for _, _, text, params in statements:
            cur.execute(sql(text), params)
        cur.close()

    # --- reads (web API, summaries) ------------------------------------------------------------
    def _query(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            cur = self._reader.cursor()
            try:
                cur.execute(self.backend.sql(text), params)
                rows = cur.fetchall()
            finally:
                cur.close()
            self._reader.commit()  # end the read transaction: the next read sees new commits
        return rows

    def fleet(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT dog, status, last_seen, registered FROM dogs ORDER BY dog")
        return [{"dog": d, "status": s, "last_seen": t, "registered": bool(r)} for d, s, t, r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per dog: telemetry rows stored, video frames counted, events stored."""
        out: dict[str, dict[str, int]] = {}
        for key, text in (("telemetry", "SELECT dog, count(*) FROM telemetry GROUP BY dog"),
                          ("frames", "SELECT dog, sum(count) FROM frames GROUP BY dog"),
                          ("events", "SELECT dog, count(*) FROM events GROUP BY dog")):
            for dog, n in self._query(text):
                out.setdefault(dog, {"telemetry": 0, "frames": 0, "events": 0})[key] = int(n)
        return out

    def latest_telemetry(self, dog: str) -> dict[str, Any] | None:
        rows = self._query("SELECT doc FROM telemetry WHERE dog = ? ORDER BY id DESC LIMIT 1", (dog,))
        return json.loads(rows[0][0]) if rows else None

    def poses(self, dog: str) -> list[tuple[float, float]]:
        """The dog's stored positions (telemetry `pose`, m) in arrival order: its track."""
        out = []
        for (text,) in self._query("SELECT doc FROM telemetry WHERE dog = ? ORDER BY id", (dog,)):
            pose = json.loads(text).get("pose", {})
            if "x" in pose and "y" in pose:
                out.append((float(pose["x"]), float(pose["y"])))
        return out

    def telemetry_seqs(self, dog: str) -> list[int]:
        """Every stored telemetry seq of `dog` in arrival order (tests, outage checks)."""
        return [r[0] for r in self._query("SELECT seq FROM telemetry WHERE dog = ? ORDER BY id", (dog,))]

    def events(self, dog: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT doc, received FROM events WHERE dog = ? ORDER BY ts DESC, id "
                           "LIMIT ?", (dog, limit))
        return [{**json.loads(doc), "received": received} for doc, received in rows]

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest messages that could never be stored, newest first."""
        rows = self._query("SELECT topic, size, reason, received, detail FROM dead_letters "
                           "ORDER BY id DESC LIMIT ?", (limit,))
        keys = ("topic", "size", "reason", "received", "detail")
        return [dict(zip(keys, row)) for row in rows]

    def commands(self, dog: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT nonce, verb, args, issuer, issued_at, code, ok, message, result_at "
                           "FROM commands WHERE dog = ? ORDER BY issued_at DESC, result_at DESC "
                           "LIMIT ?", (dog, limit))
        keys = ("nonce", "verb", "args", "issuer", "issued_at", "code", "ok", "message", "result_at")
        out = []
        for row in rows:
            item = dict(zip(keys, row))
            item["args"] = json.loads(item["args"]) if item["args"] else None
            item["ok"] = None if item["ok"] is None else bool(item["ok"])
            item["answers"] = []
            out.append(item)
        # Every cmd/result received for these commands, first first (the audit row keeps the
        # first from the addressed dog; a replay's `replayed` or another dog's answer shows here).
        by_nonce = {item["nonce"]: item for item in out}
        answers = self._query(
            "SELECT r.nonce, r.dog, r.code, r.ok, r.message, r.ts, r.received FROM command_results r "
            "JOIN (SELECT nonce FROM commands WHERE dog = ? ORDER BY issued_at DESC, result_at DESC "
            "LIMIT ?) c ON r.nonce = c.nonce ORDER BY r.id", (dog, limit))
        for nonce, d, c, ok, m, ts, r in answers:
            if nonce in by_nonce:  # (ties in the order may pick another set at the page's edge)
                by_nonce[nonce]["answers"].append({"dog": d, "code": c, "ok": bool(ok),
                                                   "message": m, "ts": ts, "received": r})
        return out
