"""The recorder's append-only audit log: who started, stopped, locked, exported, uploaded or
released evidence, when and why.

One JSON object per line: {seq, at, actor, action, recording, detail, prev, hash}, where `hash`
is SHA-256 over the canonical JSON of the other fields and `prev` the previous line's hash, so
an edited, removed or reordered line breaks the chain. Each manifest records the audit head at
signing time, which anchors the log to a signature: cutting lines off the end shows too.

Writers: the recorder node and the `robot-dog evidence` command may append at the same time;
an exclusive flock around read-last-line + append keeps the chain linear, and every line is
fsynced before the call returns (an audit entry that a crash can lose is not one).
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from robot_dog.bodycam.chain import GENESIS, canonical, entry_hash

AUDIT_FILE = "audit.log"


class AuditLog:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path, self._clock = path, clock
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, actor: str, action: str, recording: str = "", detail: str = "") -> dict[str, Any]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_line(fd)
            seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
            line: dict[str, Any] = {"seq": seq, "at": round(self._clock(), 3), "actor": actor,
                                    "action": action, "recording": recording, "detail": detail,
                                    "prev": prev}
            line["hash"] = entry_hash(line)
            os.write(fd, canonical(line) + b"\n")
            os.fsync(fd)
            return line
        finally:
            os.close(fd)

    def head(self) -> str:
        """Hash of the last line (GENESIS for an empty log)."""
        if not self.path.exists():
            return GENESIS
        fd = os.open(self.path, os.O_RDONLY)
        try:
            last = _last_line(fd)
        finally:
            os.close(fd)
        return last["hash"] if last else GENESIS


def _last_line(fd: int) -> dict[str, Any] | None:
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    back = min(size, 64 * 1024)
    os.lseek(fd, size - back, os.SEEK_SET)
    tail = os.read(fd, back).rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        line = json.loads(tail)
        return line if isinstance(line, dict) and "hash" in line and "seq" in line else None
    except ValueError:
        return None   # a torn last line (crash mid-write): verify reports it; new lines restart


def check_audit(path: Path, anchors: Collection[str] = frozenset()) -> list[str]:
    """Problems with the audit log at `path`, as sentences (empty: the chain holds and every
    anchor hash from a signed manifest is present)."""
    if not path.exists():
        return [f"audit log {path.name} is missing"]
    problems: list[str] = []
    prev, seen = GENESIS, set()
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("not an object")
        except ValueError:
            problems.append(f"audit log line {number}: not valid JSON (edited or torn)")
            prev = ""
            continue
        if line.get("hash") != entry_hash(line):
            problems.append(f"audit log line {number} (seq {line.get('seq')}): altered")
        elif line.get("prev") != prev:
            problems.append(f"audit log line {number} (seq {line.get('seq')}): a line before it "
                            "was removed, inserted or reordered")
        prev = line.get("hash", "")
        seen.add(prev)
    for anchor in sorted(set(anchors) - seen - {GENESIS}):
        problems.append(f"audit log: entry {anchor[:12]}… named by a signed manifest is gone "
                        "(lines removed)")
    return problems
