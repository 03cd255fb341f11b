"""The evidence hash chain and the signed manifest of a recording. Pure: bytes and dicts in and out.

Every closed item (a segment or a snapshot) becomes a chain entry:

    {seq, kind, file, size, sha256, chunk_sha256, start, end, recovered, prev, hash}

`sha256` is the file's digest; `chunk_sha256` the digests of its 1 MiB pieces (so `verify` can
say where a file was edited, not only that it was); `prev` is the previous entry's `hash`
(GENESIS for a device's first), and `hash` = SHA-256 of the canonical JSON of every other
field. The chain runs across recordings and restarts of one device, so a removed or reordered
item breaks a link even when each file on its own is intact.

A manifest per recording lists its entries and is signed with the device's Ed25519 evidence
key: sig = Ed25519(MANIFEST_DOMAIN + canonical JSON of every other field). It is rewritten and
re-signed as each item closes, so after a crash the signed manifest covers every closed item.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
CHUNK_BYTES = 1 << 20
MANIFEST_SCHEMA = "evidence_manifest"
MANIFEST_VERSION = 1
MANIFEST_DOMAIN = b"robot-dog evidence manifest v1\n"


def canonical(fields: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON, keys sorted, no whitespace, no NaN: the signed and hashed form."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def file_digests(path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[int, str, list[str]]:
    """(size, SHA-256 of the whole file, SHA-256 of each chunk), read once."""
    whole = hashlib.sha256()
    chunks: list[str] = []
    size = 0
    with open(path, "rb", buffering=0) as f:
        while piece := f.read(chunk_bytes):
            whole.update(piece)
            chunks.append(hashlib.sha256(piece).hexdigest())
            size += len(piece)
    return size, whole.hexdigest(), chunks


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def new_entry(*, seq: int, kind: str, file: str, path: Path, start: float, end: float,
              prev: str, recovered: bool = False) -> dict[str, Any]:
    """The chain entry of a closed file (hashes it)."""
    size, digest, chunks = file_digests(path)
    entry: dict[str, Any] = {"seq": seq, "kind": kind, "file": file, "size": size, "sha256": digest,
                             "chunk_sha256": chunks, "start": round(start, 3), "end": round(end, 3),
                             "recovered": recovered, "prev": prev}
    entry["hash"] = entry_hash(entry)
    return entry


def sign_manifest(manifest: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    body = {k: v for k, v in manifest.items() if k != "sig"}
    sig = key.sign(MANIFEST_DOMAIN + canonical(body))
    return {**body, "sig": base64.urlsafe_b64encode(sig).decode().rstrip("=")}


def signature_holds(manifest: Mapping[str, Any], key: Ed25519PublicKey) -> bool:
    sig = manifest.get("sig")
    if not isinstance(sig, str):
        return False
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        key.verify(raw, MANIFEST_DOMAIN + canonical({k: v for k, v in manifest.items() if k != "sig"}))
    except (InvalidSignature, ValueError):
        return False
    return True


def chain_breaks(entries: Iterable[Mapping[str, Any]], first_prev: str) -> list[str]:
    """Where the listed entries do not form a chain (an edited manifest), as sentences."""
    problems, prev = [], first_prev
    for entry in entries:
        if entry.get("hash") != entry_hash(entry):
            problems.append(f"entry {entry.get('seq')}: its hash does not match its fields")
        if entry.get("prev") != prev:
            problems.append(f"entry {entry.get('seq')}: does not follow the entry before it")
        prev = entry.get("hash", "")
    return problems
