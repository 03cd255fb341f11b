"""Files only their owner may read: databases holding positions, audit entries or queued data."""
from __future__ import annotations

import os
from pathlib import Path


def private_file(path: Path) -> None:
    """Create the SQLite file `path` 0600 if missing and make it, and its -wal/-shm files,
    0600 if they exist with wider modes. SQLite creates -wal/-shm with the database file's
    mode, so creating the file first (before sqlite3.connect) is what keeps them private.

    An existing file is never opened here: close() drops every POSIX lock this process holds
    on the file, those of its open SQLite connections too (the station opens one database from
    several places). Without their shared lock, another process's connection, when it closes,
    takes itself for the last one, checkpoints and deletes the WAL while our writer goes on
    committing into the deleted file: rows that other processes never see and that are gone
    after a crash (https://www.sqlite.org/howtocorrupt.html, 2.2)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: only a file that did not exist, which no connection of ours can hold
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except FileNotFoundError:
            pass
