"""The two databases behind Storage: how to connect, spell a few types and bulk-insert telemetry."""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Callable

from robot_dog.mqtt.private_file import private_file
from robot_dog.station.storage.schema import INCIDENT_TABLES, SCHEMA

_LOGGER = logging.getLogger(__name__)


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
        return (SCHEMA + INCIDENT_TABLES).format(REAL="REAL", ID="INTEGER PRIMARY KEY")

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
        return (SCHEMA + INCIDENT_TABLES).format(REAL="DOUBLE PRECISION", ID="BIGSERIAL PRIMARY KEY")

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
