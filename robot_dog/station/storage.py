"""Station storage: SQLite in WAL mode, writes batched on one writer thread.

Ingest callbacks never touch the database: they enqueue rows, and the writer commits them in
batches (one transaction per batch), which is what lets the station keep up with thousands of
telemetry messages per second. PostgreSQL (by URL) is the scale-out path behind the same API.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS dogs (
    dog TEXT PRIMARY KEY, status TEXT NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY, dog TEXT NOT NULL, received REAL NOT NULL, seq INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS telemetry_dog_received ON telemetry (dog, received);
CREATE TABLE IF NOT EXISTS frames (
    dog TEXT NOT NULL, camera TEXT NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL,
    last_received REAL NOT NULL, PRIMARY KEY (dog, camera));
"""


@dataclass(frozen=True)
class TelemetryRow:
    dog: str
    received: float
    doc: dict[str, Any]


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


Row = TelemetryRow | FrameRow | StatusRow


class Storage:
    """Batched SQLite writer; reads use their own short-lived connections (WAL allows both)."""

    def __init__(self, path: Path, batch_max: int = 1000, flush_interval_s: float = 0.1) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_max, self.flush_interval_s = batch_max, flush_interval_s
        with self._connect() as db:
            db.executescript(SCHEMA)
        self._rows: queue.Queue[Row | None] = queue.Queue()
        self._flushed = threading.Condition()
        self._pending = 0
        self._writer = threading.Thread(target=self._write_loop, name="storage-writer", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, fast commits
        return db

    def put(self, row: Row) -> None:
        with self._flushed:
            self._pending += 1
        self._rows.put(row)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row put so far is committed."""
        with self._flushed:
            return self._flushed.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        self._rows.put(None)
        self._writer.join(timeout=10)

    def _write_loop(self) -> None:
        db = self._connect()
        stop = False
        while not stop:
            batch: list[Row] = []
            try:
                first = self._rows.get(timeout=self.flush_interval_s)
            except queue.Empty:
                continue
            if first is None:
                break
            batch.append(first)
            while len(batch) < self.batch_max:
                try:
                    row = self._rows.get_nowait()
                except queue.Empty:
                    break
                if row is None:
                    stop = True
                    break
                batch.append(row)
            try:
                with db:
                    self._write_batch(db, batch)
            except sqlite3.Error:
                _LOGGER.exception("storage: a batch of %d rows failed to commit", len(batch))
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()
        db.close()

    @staticmethod
    def _write_batch(db: sqlite3.Connection, batch: list[Row]) -> None:
        telemetry = [(r.dog, r.received, r.doc.get("seq"), json.dumps(r.doc))
                     for r in batch if isinstance(r, TelemetryRow)]
        if telemetry:
            db.executemany("INSERT INTO telemetry (dog, received, seq, doc) VALUES (?, ?, ?, ?)",
                           telemetry)
        for r in batch:
            if isinstance(r, FrameRow):
                db.execute(
                    "INSERT INTO frames VALUES (?, ?, 1, ?, ?) ON CONFLICT (dog, camera) DO UPDATE "
                    "SET count = count + 1, bytes = bytes + excluded.bytes, "
                    "last_received = excluded.last_received", (r.dog, r.camera, r.size, r.received))
            elif isinstance(r, StatusRow):
                db.execute("INSERT INTO dogs VALUES (?, ?, ?) ON CONFLICT (dog) DO UPDATE SET "
                           "status = excluded.status, last_seen = excluded.last_seen",
                           (r.dog, r.status, r.received))
        seen = {(r.dog, r.received) for r in batch if isinstance(r, TelemetryRow)}
        for dog, received in seen:
            db.execute("UPDATE dogs SET last_seen = max(last_seen, ?) WHERE dog = ?", (received, dog))

    # Reads (web API, summaries)
    def fleet(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM dogs ORDER BY dog")]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per dog: telemetry rows stored and video frames counted."""
        out: dict[str, dict[str, int]] = {}
        with self._connect() as db:
            for dog, n in db.execute("SELECT dog, count(*) FROM telemetry GROUP BY dog"):
                out.setdefault(dog, {"telemetry": 0, "frames": 0})["telemetry"] = n
            for dog, n in db.execute("SELECT dog, sum(count) FROM frames GROUP BY dog"):
                out.setdefault(dog, {"telemetry": 0, "frames": 0})["frames"] = n
        return out

    def latest_telemetry(self, dog: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT doc FROM telemetry WHERE dog = ? ORDER BY id DESC LIMIT 1",
                             (dog,)).fetchone()
        return json.loads(row[0]) if row else None
