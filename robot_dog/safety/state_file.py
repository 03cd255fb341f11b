"""The safety node's small state file: its e-stop holds, so a restart does not forget them.

Written atomically (a temporary file in the same directory, fsync, rename, fsync of the
directory): a crash mid-write leaves the old state or the new one, never half of either. Read
back tolerantly: an unreadable file is not an error here, the core holds the dog instead.

`StateWriter` writes on a thread of its own: an fsync on a busy disk takes from milliseconds
to seconds, and the safety node's executor (its watchdog tick, check-ins, e-stop services) must
never wait for one. A hold acts in memory at once; the file only matters after a restart, and
every restart begins held (boot hold), so a write that lags can lose at most a hold taken in
the last moments before a crash, and only to the boot hold, never to a moving dog.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)


def write_atomically(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read(path: Path) -> Any:
    """The document, None when there is no file, or the text of why it cannot be read (str)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


class StateWriter:
    """Newest-wins background writer of one state file: `save(doc)` never blocks on the disk.

    Documents saved while a write is in progress are coalesced: the newest is written next, so
    the file always ends at the newest document. `on_error(text)` is called on the writer's
    thread when a write fails (the next save tries again); `close()` writes what is pending.
    """

    def __init__(self, path: Path, on_error: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._on_error = on_error or (lambda text: _LOGGER.error("%s", text))
        self._cond = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._busy = False
        self._closed = False
        self.written = 0          # documents written (tests, diagnostics)
        self._thread = threading.Thread(target=self._run, name="state-file", daemon=True)
        self._thread.start()

    def save(self, doc: Any) -> None:
        with self._cond:
            self._pending, self._has_pending = doc, True
            self._cond.notify()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every saved document is on disk (True) or `timeout_s` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_pending and not self._busy, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._has_pending or self._closed)
                if not self._has_pending:
                    return
                doc, self._has_pending, self._busy = self._pending, False, True
            try:
                write_atomically(self.path, doc)
                self.written += 1
            except OSError as exc:
                self._on_error(f"state not saved to {self.path}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
