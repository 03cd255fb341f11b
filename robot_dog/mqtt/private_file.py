"""Files only their owner may read: databases holding positions, audit entries or queued data."""
from __future__ import annotations

import os
from pathlib import Path


def private_file(path: Path) -> None:
    """Create the SQLite file `path` 0600 if missing and make it, and its -wal/-shm files,
    0600 if they exist with wider modes. SQLite creates -wal/-shm with the database file's
    mode, so creating the file first (before sqlite3.connect) is what keeps them private."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                p.chmod(0o600)
        except FileNotFoundError:
            pass
