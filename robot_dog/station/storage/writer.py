"""Storage: rows are enqueued by ingest and committed in batches by one writer thread."""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from robot_dog.station.storage import schema
from robot_dog.station.storage.backends import _backend, _Broken
from robot_dog.station.storage.reads import StorageReads
from robot_dog.station.storage.rows import DeadLetterRow, EventRow, ResultRow, Row, TelemetryRow
from robot_dog.station.storage.schema import _ANSWER, _SEEN, _TRIM_DEAD, _UPSERT, _answer_params, _lock_order, _params

_LOGGER = logging.getLogger(__name__)


class StorageError(RobotDogError):
    """The database cannot be opened or written."""


class Storage(StorageReads):
    """Batched writer on one thread; reads on their own connection (WAL / MVCC allow both).

    `put` is the ingest hot path: append to a list under one C-level lock, no queue.Queue, no
    per-row wake-up. The writer swaps the whole list out, commits it as one transaction (in
    chunks of `batch_max`), then lingers `linger_s` so a burst arrives as one batch instead of
    one commit per row; an idle writer is woken by the first row only.
    """

    def __init__(self, target: str | Path, batch_max: int = 5000, flush_interval_s: float = 0.1,
                 linger_s: float = 0.005) -> None:
        self.target = target  # the file or URL, for the accounts' tables (storage/accounts.py)
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
                committed = [r for r in batch if not callable(r)]
                db, settled = self._commit(db, committed)
                for callback in callbacks if settled else ():
                    try:
                        callback()
                    except Exception:
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
            statements.append(((6,), 0, _TRIM_DEAD, (schema.DEAD_LETTERS_KEPT,)))
        statements.sort(key=lambda s: (s[0], s[1]))
        cur = db.cursor()
        for _, _, text, params in statements:
            cur.execute(sql(text), params)
        cur.close()
