"""Where the station keeps evidence files: a small object-storage interface and its directory
implementation (the default). An S3-compatible store can take the directory's place past one
machine: keys are `/`-separated names, objects are written in ranges while an upload is
received, then renamed into place once verified, and read back in ranges (HTTP range requests).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

#: Keys are the dog id, the recording id and a file name: nothing that could leave the root.
KEY = re.compile(r"[A-Za-z0-9_.-]{1,96}(/[A-Za-z0-9_.-]{1,96}){0,3}")


class ObjectStoreError(OSError):
    """An object that cannot be read or written as asked."""


class ObjectStore(Protocol):
    def write_at(self, key: str, offset: int, data: bytes) -> None: ...
    def put(self, key: str, data: bytes) -> None: ...
    def size(self, key: str) -> int | None: ...
    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes: ...
    def iter_range(self, key: str, start: int, end: int, step: int = 65536) -> Iterator[bytes]: ...
    def rename(self, src: str, dst: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str) -> list[str]: ...


class DirectoryStore:
    """Objects as files under `root` (fsynced before a rename makes them visible)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
            raise ObjectStoreError(f"invalid object key {key!r}")
        return self.root / key

    def write_at(self, key: str, offset: int, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with open(self._path(key), "rb") as f:
            f.seek(start)
            return f.read() if length is None else f.read(length)

    def iter_range(self, key: str, start: int, end: int, step: int = 65536) -> Iterator[bytes]:
        """Bytes [start, end] (inclusive, as in an HTTP range)."""
        with open(self._path(key), "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                piece = f.read(min(step, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece

    def rename(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(source, target)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))
