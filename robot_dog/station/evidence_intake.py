"""Evidence intake at the station: uploaded manifests and chunks -> verified files, rows, acks.

Pure apart from the object store (robot_dog/station/object_store.py) it writes; no network
and no database: `handle` returns the rows to store and the acknowledgement to send, or raises
`EvidenceRefused` with a stable reason. The caller (station/app.py) stores the rows and sends
the signed `evidence_ack` only after they are committed.

Trust: nothing the dog says is believed until its signed manifest says it. A manifest counts
only if its Ed25519 signature holds with the dog's evidence public key (from the fleet; the
topic names the dog, the broker's ACL vouches for the topic) and its entries form a chain; a
later manifest of a recording must extend the one held (same entries, more of them). A chunk
counts only for an item that manifest lists, with that file name and size; each 1 MiB piece
is checked against the manifest's `chunk_sha256` once its chunks are in, and the whole file
against `sha256` before it is moved into place as verified and acknowledged.

Objects:  <dog>/<recording>/manifest.json           the newest verified manifest
          <dog>/<recording>/<file>                  a verified item
          staging/<dog>/<recording>/<file>          an item being received
          staging/<dog>/<recording>/<file>.parts    offsets of its chunks received so far
A restart loses nothing: partial items and their parts lists are on disk.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from robot_dog.bodycam import chain
from robot_dog.mqtt import evidence as wire
from robot_dog.station.object_store import ObjectStore
from robot_dog.station.storage.rows import EvidenceItemRow, EvidenceRecordingRow, Row

_LOGGER = logging.getLogger(__name__)

REASONS = ("evidence_malformed", "evidence_oversized", "dog_mismatch", "no_evidence_key",
           "bad_manifest_signature", "broken_chain", "manifest_rewritten", "stale_manifest",
           "unknown_recording", "unknown_item", "forged_chunk", "replayed_chunk")
#: Reasons that say a credential is misused or a dog's data was tampered with on the way.
SECURITY_REASONS = frozenset({"dog_mismatch", "no_evidence_key", "bad_manifest_signature",
                              "broken_chain", "manifest_rewritten", "forged_chunk"})


class EvidenceRefused(ValueError):
    """A message the intake refuses; `reason` is stable. `ack`: an item it holds already (a
    resent chunk): acknowledge it again, the dog may have missed the first."""

    def __init__(self, reason: str, detail: str, ack: Ack | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.ack = reason, ack


@dataclass(frozen=True)
class Ack:
    dog: str
    recording: str
    items: tuple[tuple[int, str], ...]   # (seq, sha256)


@dataclass(frozen=True)
class Outcome:
    rows: list[Row] = field(default_factory=list)
    ack: Ack | None = None


def _no_key(dog: str) -> Ed25519PublicKey | None:
    return None


class EvidenceIntake:
    def __init__(self, objects: ObjectStore,
                 evidence_key: Callable[[str], Ed25519PublicKey | None] = _no_key) -> None:
        self.objects, self._key = objects, evidence_key
        self._manifests: dict[tuple[str, str], dict[str, Any]] = {}

    def handle(self, dog: str, part: str, payload: bytes, now: float) -> Outcome:
        try:
            message = wire.parse(dog, part, payload)
        except wire.EvidenceMessageError as exc:
            reason = {"oversized": "evidence_oversized", "dog_mismatch": "dog_mismatch"}.get(
                exc.code, "evidence_malformed")
            raise EvidenceRefused(reason, str(exc)) from None
        if isinstance(message, wire.ManifestPart):
            return self._manifest(message, now)
        return self._chunk(message, now)

    # --- manifests ---------------------------------------------------------------------------
    def manifest(self, dog: str, recording: str) -> dict[str, Any] | None:
        """The newest verified manifest of a recording (from the object store after a restart)."""
        key = (dog, recording)
        if key not in self._manifests:
            try:
                self._manifests[key] = json.loads(self.objects.read(f"{dog}/{recording}/manifest.json"))
            except (OSError, ValueError):
                return None
        return self._manifests[key]

    def _manifest(self, m: wire.ManifestPart, now: float) -> Outcome:
        key = self._key(m.dog)
        if key is None:
            raise EvidenceRefused("no_evidence_key", f"no evidence public key for {m.dog}")
        try:
            manifest = json.loads(m.body)
        except ValueError:
            raise EvidenceRefused("evidence_malformed", "manifest is not JSON") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
            raise EvidenceRefused("evidence_malformed", "manifest has no entries")
        if manifest.get("recording") != m.recording:
            raise EvidenceRefused("evidence_malformed", f"manifest of {manifest.get('recording')!r} "
                                  f"sent as {m.recording!r}")
        if not chain.signature_holds(manifest, key):
            raise EvidenceRefused("bad_manifest_signature", f"{m.recording}: signature does not "
                                  f"verify with {m.dog}'s evidence key")
        entries = manifest["entries"]
        breaks = chain.chain_breaks(entries, str(manifest.get("chain_prev", "")))
        if breaks:
            raise EvidenceRefused("broken_chain", f"{m.recording}: {'; '.join(breaks[:3])}")
        if any(not isinstance(e.get("file"), str) or not wire.ITEM_FILE.fullmatch(e["file"])
               for e in entries):
            raise EvidenceRefused("evidence_malformed", f"{m.recording}: an entry's file name")
        held = self.manifest(m.dog, m.recording)
        if held is not None:
            old = [e["hash"] for e in held["entries"]]
            new = [e["hash"] for e in entries]
            if new[:len(old)] != old and old[:len(new)] != new:
                raise EvidenceRefused("manifest_rewritten", f"{m.recording}: a signed manifest "
                                      "that does not extend the one held")
            if len(new) < len(old) or (len(new) == len(old) and held.get("ended_at") is not None
                                       and manifest.get("ended_at") is None):
                raise EvidenceRefused("stale_manifest", f"{m.recording}: older than the one held")
        self.objects.put(f"{m.dog}/{m.recording}/manifest.json", m.body)
        self._manifests[(m.dog, m.recording)] = manifest
        rows: list[Row] = [EvidenceRecordingRow(
            dog=m.dog, recording=m.recording, device=str(manifest.get("device", "")),
            officer=str(manifest.get("officer", "")), reason=str(manifest.get("reason", "")),
            started_at=float(manifest.get("started_at") or 0.0),
            ended_at=None if manifest.get("ended_at") is None else float(manifest["ended_at"]),
            locked=bool(manifest.get("locked")), items=len(entries), received=now)]
        rows += [self._item_row(m.dog, m.recording, e, "pending", None) for e in entries]
        return Outcome(rows)

    @staticmethod
    def _item_row(dog: str, recording: str, e: dict[str, Any], state: str,
                  verified_at: float | None) -> EvidenceItemRow:
        return EvidenceItemRow(dog=dog, recording=recording, seq=int(e["seq"]), kind=str(e["kind"]),
                               file=str(e["file"]), size=int(e["size"]), sha256=str(e["sha256"]),
                               start=float(e["start"]), end=float(e["end"]), state=state,
                               verified_at=verified_at)

    # --- chunks ------------------------------------------------------------------------------
    def _chunk(self, c: wire.ChunkPart, now: float) -> Outcome:
        manifest = self.manifest(c.dog, c.recording)
        if manifest is None:
            raise EvidenceRefused("unknown_recording", f"{c.recording}: no signed manifest held")
        entry = next((e for e in manifest["entries"] if e.get("seq") == c.seq), None)
        if entry is None:
            raise EvidenceRefused("unknown_item", f"{c.recording} lists no item {c.seq}")
        if entry["file"] != c.file or entry["size"] != c.size:
            raise EvidenceRefused("forged_chunk", f"{c.recording} item {c.seq} is {entry['file']} "
                                  f"of {entry['size']} bytes, not {c.file} of {c.size}")
        final = f"{c.dog}/{c.recording}/{c.file}"
        ack = Ack(c.dog, c.recording, ((c.seq, str(entry["sha256"])),))
        if self.objects.size(final) == c.size:
            raise EvidenceRefused("replayed_chunk", f"{c.recording} item {c.seq} is held already",
                                  ack if c.offset == 0 else None)
        staging = f"staging/{final}"
        self.objects.write_at(staging, c.offset, c.body)
        parts = self._parts(staging) | {c.offset}
        piece = c.offset // chain.CHUNK_BYTES
        piece_start = piece * chain.CHUNK_BYTES
        piece_end = min(piece_start + chain.CHUNK_BYTES, c.size)
        needed = set(range(piece_start, piece_end, wire.CHUNK_BYTES))
        if needed <= parts:
            data = self.objects.read(staging, piece_start, piece_end - piece_start)
            recorded = entry.get("chunk_sha256") or []
            if piece >= len(recorded) or hashlib.sha256(data).hexdigest() != recorded[piece]:
                self._save_parts(staging, parts - needed)
                raise EvidenceRefused("forged_chunk", f"{c.recording} item {c.seq}: bytes "
                                      f"{piece_start}-{piece_end - 1} differ from the signed manifest")
        if parts != set(range(0, c.size, wire.CHUNK_BYTES)):
            self._save_parts(staging, parts)
            return Outcome()
        if self.objects.size(staging) != c.size or _sha256(self.objects, staging, c.size) != entry["sha256"]:
            self._save_parts(staging, set())
            raise EvidenceRefused("forged_chunk", f"{c.recording} item {c.seq}: whole file differs "
                                  "from the signed manifest")
        self.objects.rename(staging, final)
        self.objects.delete(staging + ".parts")
        _LOGGER.info("evidence %s/%s %s verified (%d bytes)", c.dog, c.recording, c.file, c.size)
        return Outcome([self._item_row(c.dog, c.recording, entry, "verified", now)], ack)

    def _parts(self, staging: str) -> set[int]:
        try:
            parts = json.loads(self.objects.read(staging + ".parts"))
        except (OSError, ValueError):
            return set()
        return {p for p in parts if isinstance(p, int)} if isinstance(parts, list) else set()

    def _save_parts(self, staging: str, parts: set[int]) -> None:
        self.objects.put(staging + ".parts", json.dumps(sorted(parts)).encode())


def _sha256(objects: ObjectStore, key: str, size: int) -> str:
    whole = hashlib.sha256()
    for piece in objects.iter_range(key, 0, size - 1, chain.CHUNK_BYTES):
        whole.update(piece)
    return whole.hexdigest()
