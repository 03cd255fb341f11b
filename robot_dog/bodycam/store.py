"""The evidence directory on the dog: recordings, their signed manifests, the chain head, the
audit log, and which recordings the station holds verified. One writer (the recorder's thread).

    <root>/audit.log                          append-only, hash-chained (audit.py)
    <root>/evidence.pub                       the device's public evidence key (for exports)
    <root>/recordings/<id>/manifest.json      signed after every closed item (chain.py)
    <root>/recordings/<id>/000042-segment.mp4 one file per segment; snapshots are .jpg
    <root>/recordings/<id>/held.json          the station's verified copies (written by `mark_held`)

Item states: *open* (being written, not in the manifest), *closed* (hashed, chained, signed),
*held* (the station acknowledged a verified copy). Only a recording whose every item is held
and that is not locked may be deleted (retention.py decides which). An upload path reports a
verified copy through `mark_held`; nothing else changes a state.

After a crash, `recover()` seals what was open: the file is hashed as it is (playable up to its
last fragment), chained with `recovered: true`, and the audit log says so.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from robot_dog.bodycam import chain
from robot_dog.bodycam.audit import AUDIT_FILE, AuditLog
from robot_dog.mqtt import signing

_LOGGER = logging.getLogger(__name__)

MANIFEST = "manifest.json"
HELD = "held.json"
PUBLIC_KEY = "evidence.pub"
CHAIN_HEAD = "chain.json"   # {seq, hash} of the newest entry: survives deleting every recording
ITEM_NAME = re.compile(r"(\d{6,})-(segment|snapshot)\.(mp4|jpg)")
SUFFIX = {"segment": "mp4", "snapshot": "jpg"}
CASE_FILE = "case.json"      # in an exported case: which recordings it holds (gaps between them are expected)
#: In the audit detail of a release: the released recording's last chain hash, so that verify
#: tells a released recording from one removed by hand.
RELEASED_HEAD = re.compile(r"last hash ([0-9a-f]{64})")


class StoreError(RobotDogError, RuntimeError):
    """The evidence directory cannot be written as needed (disk full, permissions)."""


@dataclass(frozen=True)
class RecordingInfo:
    """What retention needs to know about one recording."""
    id: str
    started_at: float
    bytes: int
    locked: bool
    held: bool        # the station holds a verified copy of every item
    open: bool        # being recorded now


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` so that a crash leaves the old or the new content, never a mix."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class EvidenceStore:
    def __init__(self, root: Path, device_id: str, key: Ed25519PrivateKey,
                 clock: Callable[[], float] = time.time) -> None:
        self.root, self.device_id, self._key, self._clock = Path(root), device_id, key, clock
        self.recordings_dir = self.root / "recordings"
        try:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
            pub = signing.public_pem(key.public_key())
            if not (self.root / PUBLIC_KEY).exists() or (self.root / PUBLIC_KEY).read_bytes() != pub:
                write_atomic(self.root / PUBLIC_KEY, pub)
        except OSError as exc:
            raise StoreError(f"cannot use evidence directory {self.root}: {exc}") from exc
        self.audit = AuditLog(self.root / AUDIT_FILE, clock)
        self._manifests: dict[str, dict[str, Any]] = {}
        self.chain_head, self.next_seq, self._next_file = chain.GENESIS, 1, 1
        self._load()

    # --- startup ----------------------------------------------------------------------------
    def _load(self) -> None:
        head = _read_json(self.root / CHAIN_HEAD)
        if isinstance(head, dict) and isinstance(head.get("seq"), int):
            self.next_seq, self.chain_head = head["seq"] + 1, str(head.get("hash"))
        for directory in sorted(d for d in self.recordings_dir.iterdir() if d.is_dir()):
            manifest = _read_json(directory / MANIFEST)
            if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
                # Never deleted nor rewritten: it is evidence of what happened to it. verify names it.
                _LOGGER.error("recording %s has no readable manifest; left as it is", directory.name)
                self.audit.append("recorder", "manifest_unreadable", directory.name,
                                  "left untouched; retention will not delete it")
                continue
            self._manifests[directory.name] = manifest
            for entry in manifest.get("entries", []):
                if entry.get("seq", 0) >= self.next_seq:
                    self.next_seq, self.chain_head = entry["seq"] + 1, entry["hash"]
            for item in directory.iterdir():
                if m := ITEM_NAME.fullmatch(item.name):
                    self._next_file = max(self._next_file, int(m.group(1)) + 1)

    def recover(self) -> list[str]:
        """Seal items a crash left open and mark unfinished recordings ended. Returns the
        recordings touched."""
        touched = []
        for rec_id, manifest in sorted(self._manifests.items(), key=lambda kv: kv[1]["started_at"]):
            listed = {e["file"] for e in manifest["entries"]}
            orphans = sorted(p for p in (self.recordings_dir / rec_id).iterdir()
                             if ITEM_NAME.fullmatch(p.name) and p.name not in listed)
            for path in orphans:
                kind = path.stem.split("-", 1)[1]        # ITEM_NAME matched it: segment or snapshot
                stat = path.stat()
                self._append_entry(rec_id, path, kind, start=manifest["started_at"],
                                   end=stat.st_mtime, recovered=True)
                self.audit.append("recorder", "recovered", rec_id,
                                  f"{path.name} sealed after a crash ({stat.st_size} bytes)")
            if manifest.get("ended_at") is None:
                self.end_recording(rec_id, "recorder", "ended by a crash; sealed at restart")
                touched.append(rec_id)
            elif orphans:
                touched.append(rec_id)
        return touched

    # --- recordings -------------------------------------------------------------------------
    def start_recording(self, *, reason: str, locked: bool, officer_id: str, actor: str,
                        started_at: float) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started_at))
        rec_id = f"{self.device_id}-{stamp}-{self._next_file:06d}"
        self._next_file += 1      # two recordings within one second (and no item between) differ
        (self.recordings_dir / rec_id).mkdir(parents=True, exist_ok=False)
        self._manifests[rec_id] = {
            "schema": chain.MANIFEST_SCHEMA, "v": chain.MANIFEST_VERSION, "device": self.device_id,
            "officer": officer_id, "recording": rec_id, "reason": reason,
            "started_at": round(started_at, 3), "ended_at": None, "locked": locked,
            "chain_prev": self.chain_head, "entries": [], "audit_head": chain.GENESIS}
        self.audit.append(actor, "started", rec_id, reason + (" (locked)" if locked else ""))
        self._sign_and_write(rec_id)
        return rec_id

    def lock(self, rec_id: str, actor: str, reason: str) -> None:
        if not self._manifests[rec_id]["locked"]:
            self._manifests[rec_id]["locked"] = True
            self.audit.append(actor, "locked", rec_id, reason)
            self._sign_and_write(rec_id)

    def end_recording(self, rec_id: str, actor: str, reason: str) -> None:
        self._manifests[rec_id]["ended_at"] = round(self._clock(), 3)
        self.audit.append(actor, "stopped", rec_id, reason)
        self._sign_and_write(rec_id)

    def new_item_path(self, rec_id: str, kind: str) -> Path:
        path = self.recordings_dir / rec_id / f"{self._next_file:06d}-{kind}.{SUFFIX[kind]}"
        self._next_file += 1
        return path

    def close_item(self, rec_id: str, path: Path, kind: str, start: float, end: float) -> dict[str, Any]:
        """Hash, chain and sign a finished file; returns its chain entry."""
        return self._append_entry(rec_id, path, kind, start, end, recovered=False)

    def _append_entry(self, rec_id: str, path: Path, kind: str, start: float, end: float,
                      recovered: bool) -> dict[str, Any]:
        entry = chain.new_entry(seq=self.next_seq, kind=kind, file=path.name, path=path,
                                start=start, end=end, prev=self.chain_head, recovered=recovered)
        self._manifests[rec_id]["entries"].append(entry)
        self.next_seq, self.chain_head = self.next_seq + 1, entry["hash"]
        self._sign_and_write(rec_id)
        write_atomic(self.root / CHAIN_HEAD, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}).encode())
        return entry

    def _sign_and_write(self, rec_id: str) -> None:
        manifest = self._manifests[rec_id]
        manifest["audit_head"] = self.audit.head()
        signed = chain.sign_manifest(manifest, self._key)
        self._manifests[rec_id] = signed
        try:
            write_atomic(self.recordings_dir / rec_id / MANIFEST, json.dumps(signed, indent=1).encode())
        except OSError as exc:
            raise StoreError(f"cannot write the manifest of {rec_id}: {exc}") from exc

    # --- the station's verified copies (called by an upload path) ---------------------------
    def mark_held(self, rec_id: str, seqs: list[int], actor: str) -> None:
        """The station acknowledged verified copies of these items of `rec_id`."""
        if rec_id not in self._manifests:
            raise StoreError(f"no recording {rec_id!r}")
        entries = {e["seq"]: e["sha256"] for e in self._manifests[rec_id]["entries"]}
        record_held(self.root, rec_id, [(s, entries.get(s, "")) for s in seqs], actor)

    def pending_upload(self) -> list[tuple[str, dict[str, Any]]]:
        """Closed items the station does not hold yet, oldest first: (recording, chain entry).
        An upload sends each with its recording's manifest and reports back via `mark_held`."""
        pending = []
        for rec_id, manifest in self._manifests.items():
            held = set(self.held_seqs(rec_id))
            pending += [(rec_id, e) for e in manifest["entries"] if e["seq"] not in held]
        return sorted(pending, key=lambda item: int(item[1]["seq"]))

    def held_seqs(self, rec_id: str) -> list[int]:
        return held_seqs(self.root, rec_id)

    # --- what retention sees and does -------------------------------------------------------
    def recordings(self) -> list[RecordingInfo]:
        out = []
        for rec_id, manifest in self._manifests.items():
            directory = self.recordings_dir / rec_id
            size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
            seqs = {e["seq"] for e in manifest["entries"]}
            out.append(RecordingInfo(rec_id, manifest["started_at"], size, bool(manifest["locked"]),
                                     bool(seqs) and seqs <= set(self.held_seqs(rec_id)),
                                     manifest.get("ended_at") is None))
        return sorted(out, key=lambda r: r.started_at)

    def delete(self, info: RecordingInfo, reason: str) -> None:
        """Remove a released recording (retention only hands over held, unlocked, ended ones)."""
        if info.locked or not info.held or info.open:
            raise StoreError(f"refusing to delete {info.id}: locked, open or not held by the station")
        entries = self._manifests[info.id]["entries"]
        last = f"; last hash {entries[-1]['hash']}" if entries else ""
        self.audit.append("retention", "released", info.id, reason + last)
        shutil.rmtree(self.recordings_dir / info.id)
        del self._manifests[info.id]

    def manifest(self, rec_id: str) -> dict[str, Any]:
        return self._manifests[rec_id]


def held_seqs(root: Path, rec_id: str) -> list[int]:
    held = _read_json(Path(root) / "recordings" / rec_id / HELD)
    return [s for s in held if isinstance(s, int)] if isinstance(held, list) else []


def record_held(root: Path, rec_id: str, items: list[tuple[int, str]], actor: str) -> list[int]:
    """The station acknowledged verified copies of `items` ((seq, sha256)) of `rec_id`: write
    them into held.json (audited as `uploaded`) once each matches the signed manifest on disk.
    Returns the seqs newly held. The upload path is held.json's only writer; it may run in
    another process than the recorder (the uplink): the manifest is read from disk, replaced
    atomically by the recorder, and the audit log takes writers from several processes."""
    root = Path(root)
    manifest = _read_json(root / "recordings" / rec_id / MANIFEST)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
        raise StoreError(f"no recording {rec_id!r}")
    listed = {e.get("seq"): e.get("sha256") for e in manifest["entries"] if isinstance(e, dict)}
    wrong = sorted(seq for seq, digest in items if listed.get(seq) != digest)
    if wrong:
        raise StoreError(f"recording {rec_id}: items {wrong} are not in its manifest with "
                         "those digests")
    before = set(held_seqs(root, rec_id))
    new = sorted({seq for seq, _ in items} - before)
    if new:
        write_atomic(root / "recordings" / rec_id / HELD, json.dumps(sorted(before | set(new))).encode())
        AuditLog(root / AUDIT_FILE).append(actor, "uploaded", rec_id,
                                           f"station holds verified items {new}")
    return new


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
