"""Tables written at once rather than through the batched writer (accounts, incidents): one
connection of their own under a lock, each call its own transaction, committed before it returns
(a login, an audit line or a dispatch must hold before the answer leaves)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robot_dog.station.storage.backends import _backend


class DirectTables:
    """`target`: SQLite file or postgresql:// URL, the station's --db; the tables are created if
    missing, as every table of the station is."""

    def __init__(self, target: str | Path) -> None:
        self.backend = _backend(target)
        self._db = self.backend.connect()
        self.backend.create(self._db)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed when the block ends, rolled back if it
        raises. A read commits too: the next one sees what other connections committed."""
        with self._lock:
            cur = self._db.cursor()
            try:
                yield cur
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
            finally:
                cur.close()

    def _execute(self, text: str, params: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], int]:
        """One statement in its own transaction: (rows it returned, rows it changed)."""
        with self._transaction() as cur:
            cur.execute(self.backend.sql(text), params)
            rows: list[tuple[Any, ...]] = cur.fetchall() if cur.description else []
            return rows, int(cur.rowcount)

    def _run(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._execute(text, params)[0]
