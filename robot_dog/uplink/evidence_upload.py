"""Evidence upload, the dog's side: closed items of the recorder's evidence directory, in chunks,
into the MQTT outbox as its lowest class, until the station acknowledges verified copies.

Pure apart from reading the evidence directory and writing this uploader's progress file: time
comes in through the injected clock, messages go out as (topic, payload) for the caller to put
into the outbox (Priority.EVIDENCE), acknowledgements come in through `on_ack`.

Policy (docs/evidence.md#upload):
- What: every recording's signed manifest whenever it changed since it was last sent, and
  every closed item (segment, still) that held.json does not list, oldest first; a manifest
  always goes before the chunks of the items it lists.
- Priority: `tick` admits messages only while the outbox holds no telemetry or event and fewer
  than `queued_max` evidence messages, so a higher class never waits behind more than
  `queued_max` chunks; evidence is also the first class dropped when the outbox is full.
- Rate: a token bucket of `rate_bytes_s` (burst: one chunk, so chunks go evenly spaced) caps
  what enters the outbox, so live video and telemetry keep their share of the link.
- Resume: the offset of the item in progress and the manifests sent are kept in `state_file`
  (written after every tick that sent something): a restart of the uplink goes on where it
  stopped; chunks already in the outbox survive in the outbox. The station keeps partial items
  on disk. An item sent in full and not acknowledged within `resend_after_s` (lost in a
  broker restart, refused as forged, the ack lost) is sent again from the start, manifest
  first: the station takes duplicate chunks and re-acknowledges items it holds already.
- Release: `on_ack` writes the acknowledged items into held.json (robot_dog.bodycam.store.
  record_held: only with the digests of the signed manifest); retention may then delete them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_dog.bodycam import store as evidence_store
from robot_dog.mqtt import evidence as wire
from robot_dog.mqtt.store_forward import Priority

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadConfig:
    rate_bytes_s: float = 250_000.0   # cap on evidence entering the outbox, bytes/s
    queued_max: int = 2               # evidence messages in the outbox at once
    resend_after_s: float = 120.0     # an item sent in full and not acknowledged: again
    scan_s: float = 2.0               # how often the evidence directory is looked at

    def __post_init__(self) -> None:
        if self.rate_bytes_s <= 0 or self.queued_max < 1 or self.resend_after_s <= 0:
            raise ValueError("rate_bytes_s > 0, queued_max >= 1, resend_after_s > 0")


@dataclass
class _Pending:
    recording: str
    entry: dict[str, Any]


class EvidenceUploader:
    def __init__(self, root: Path, dog: str, state_file: Path, cfg: UploadConfig = UploadConfig(),
                 clock: Callable[[], float] = time.time) -> None:
        self.root, self.dog, self.state_file, self.cfg = Path(root), dog, Path(state_file), cfg
        self._clock = clock
        self._manifests: dict[str, tuple[int, int, bytes, str]] = {}  # rec -> (mtime_ns, size, bytes, digest)
        self._pending: list[_Pending] = []
        self._scanned_at = -1e18
        self._tokens, self._filled_at = 0.0, clock()
        state = _read_state(self.state_file)
        self._sent: dict[str, str] = state.get("manifests", {})        # rec -> digest sent
        self._items: dict[str, dict[str, Any]] = state.get("items", {})  # "rec/seq" -> progress
        self.sent_bytes = 0
        self.acked_items = 0
        self.problems: list[str] = []
        self._lock = threading.Lock()   # tick on the node's thread, on_ack on the MQTT thread

    # --- what the outbox gets ------------------------------------------------------------------
    def tick(self, waiting: dict[Priority, int]) -> list[tuple[str, bytes]]:
        """Messages to put into the outbox now, given how many wait in it per class."""
        with self._lock:
            return self._tick(waiting)

    def _tick(self, waiting: dict[Priority, int]) -> list[tuple[str, bytes]]:
        now = self._clock()
        if any(n for p, n in waiting.items() if p > Priority.EVIDENCE):
            return []  # telemetry or events wait: they go first
        burst = float(wire.CHUNK_BYTES)   # one chunk: evenly spaced, never a clump of them
        self._tokens = min(burst, self._tokens + max(0.0, now - self._filled_at) * self.cfg.rate_bytes_s)
        self._filled_at = now
        if now - self._scanned_at >= self.cfg.scan_s:
            self._scan()
            self._scanned_at = now
        out: list[tuple[str, bytes]] = []
        slots = self.cfg.queued_max - waiting.get(Priority.EVIDENCE, 0)
        while slots > 0 and self._tokens > 0:
            message = self._next(now)
            if message is None:
                break
            out.append(message)
            slots -= 1
            self._tokens -= len(message[1])
            self.sent_bytes += len(message[1])
        if out:
            self._save()
        return out

    def _next(self, now: float) -> tuple[str, bytes] | None:
        for rec, (_, _, body, digest) in self._manifests.items():
            if self._sent.get(rec) != digest:
                self._sent[rec] = digest
                return wire.manifest_message(self.dog, rec, body)
        for item in self._pending:
            key = f"{item.recording}/{item.entry['seq']}"
            progress = self._items.setdefault(key, {"offset": 0, "done_at": None})
            if progress["done_at"] is not None:
                if now - progress["done_at"] < self.cfg.resend_after_s:
                    continue  # waiting for the station's acknowledgement
                _LOGGER.warning("evidence %s (%s) not acknowledged %.0f s after it was sent: "
                                "sending it again", key, item.entry["file"], now - progress["done_at"])
                progress.update(offset=0, done_at=None)
                self._sent.pop(item.recording, None)
                return self._next(now)   # its manifest first
            return self._chunk(item, progress, now)
        return None

    def _chunk(self, item: _Pending, progress: dict[str, Any], now: float) -> tuple[str, bytes] | None:
        entry, offset = item.entry, int(progress["offset"])
        path = self.root / "recordings" / item.recording / str(entry["file"])
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                body = f.read(wire.CHUNK_BYTES)
        except OSError as exc:
            body = b""
            problem = f"{item.recording}/{entry['file']}: cannot read ({exc})"
        else:
            problem = f"{item.recording}/{entry['file']}: shorter than its manifest entry"
        if not body:  # a file gone or cut by hand: verify names it; nothing to send
            if problem not in self.problems:
                _LOGGER.error("evidence upload: %s; skipped", problem)
                self.problems.append(problem)
            progress["done_at"] = now
            return None
        progress["offset"] = offset + len(body)
        if progress["offset"] >= int(entry["size"]):
            progress["done_at"] = now
        return wire.chunk_message(self.dog, item.recording, int(entry["seq"]), str(entry["file"]),
                                  int(entry["size"]), offset, body)

    def _scan(self) -> None:
        recordings_dir = self.root / "recordings"
        try:
            dirs = sorted(d for d in recordings_dir.iterdir() if d.is_dir())
        except OSError:
            dirs = []
        pending: list[_Pending] = []
        seen = set()
        for directory in dirs:
            rec = directory.name
            manifest = self._manifest(rec, directory / evidence_store.MANIFEST)
            if manifest is None:
                continue
            seen.add(rec)
            held = set(evidence_store.held_seqs(self.root, rec))
            pending += [_Pending(rec, e) for e in manifest.get("entries", [])
                        if isinstance(e, dict) and e.get("seq") not in held]
        for gone in set(self._manifests) - seen:   # released by retention
            del self._manifests[gone]
            self._sent.pop(gone, None)
        pending.sort(key=lambda p: int(p.entry["seq"]))
        live = {f"{p.recording}/{p.entry['seq']}" for p in pending}
        self._items = {k: v for k, v in self._items.items() if k in live}
        self._pending = pending

    def _manifest(self, rec: str, path: Path) -> dict[str, Any] | None:
        try:
            stat = path.stat()
            cached = self._manifests.get(rec)
            if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
                body = path.read_bytes()
                cached = (stat.st_mtime_ns, stat.st_size, body, hashlib.sha256(body).hexdigest())
                self._manifests[rec] = cached
            manifest = json.loads(cached[2])
        except (OSError, ValueError):
            return None    # unreadable: the recorder logged it; verify names it
        return manifest if isinstance(manifest, dict) else None

    # --- what comes back -----------------------------------------------------------------------
    def on_ack(self, recording: str, items: list[tuple[int, str]], actor: str) -> list[int]:
        """The station holds these items verified: release them (held.json). Raises StoreError
        when they do not match the signed manifest (nothing is released then)."""
        with self._lock:
            return self._release(recording, items, actor)

    def _release(self, recording: str, items: list[tuple[int, str]], actor: str) -> list[int]:
        new = evidence_store.record_held(self.root, recording, items, actor)
        for seq, _ in items:
            self._items.pop(f"{recording}/{seq}", None)
        self._pending = [p for p in self._pending
                         if not (p.recording == recording and p.entry["seq"] in {s for s, _ in items})]
        self.acked_items += len(new)
        self._save()
        return new

    def backlog(self) -> dict[str, int]:
        """Closed items not yet held by the station, and their bytes (telemetry)."""
        with self._lock:
            return {"items": len(self._pending),
                    "bytes": sum(int(p.entry.get("size", 0)) for p in self._pending)}

    def _save(self) -> None:
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            evidence_store.write_atomic(self.state_file, json.dumps(
                {"manifests": self._sent, "items": self._items}).encode())
        except OSError as exc:  # progress only: the worst case is sending again
            _LOGGER.warning("evidence upload: cannot save progress to %s: %s", self.state_file, exc)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    return {k: v for k, v in state.items() if k in ("manifests", "items") and isinstance(v, dict)}
