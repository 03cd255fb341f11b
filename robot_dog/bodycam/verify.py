"""Check recorded evidence as a court expert would: every file against the signed manifest.

`verify(path, key)` takes an evidence directory, an exported case (the same layout) or one
recording's directory, and reports per recording: whether the signature holds, whether the
listed entries form a chain, and for each item whether it is intact, *missing*, *truncated*
(shorter than recorded), *altered* (same size, other bytes; with the first changed MiB),
*grown*, or *reordered* (the file holds another entry's bytes); files that no manifest lists
are *unlisted*. Chains of consecutive recordings must join (a removed recording shows as a
gap), and the audit log must hold its own chain and every head a manifest was signed with.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from robot_dog.bodycam import chain
from robot_dog.bodycam.audit import AUDIT_FILE, check_audit
from robot_dog.bodycam.store import CASE_FILE, ITEM_NAME, MANIFEST, PUBLIC_KEY, RELEASED_HEAD
from robot_dog.mqtt import signing


@dataclass
class RecordingReport:
    recording: str
    signature: str                     # valid, INVALID, no key
    items: list[tuple[str, str]] = field(default_factory=list)   # (file, verdict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signature == "valid" and not self.problems and all(v.startswith("intact") for _, v in self.items)


@dataclass
class Report:
    recordings: list[RecordingReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.recordings) and not self.problems and all(r.ok for r in self.recordings)

    def lines(self) -> list[str]:
        out = []
        for rec in self.recordings:
            out.append(f"recording {rec.recording}: signature {rec.signature}")
            out += [f"  {name}: {verdict}" for name, verdict in rec.items]
            out += [f"  PROBLEM: {p}" for p in rec.problems]
        out += [f"PROBLEM: {p}" for p in self.problems]
        out.append("RESULT: " + ("intact" if self.ok else "DAMAGED"))
        return out


def find_key(path: Path) -> Ed25519PublicKey | None:
    for candidate in (path / PUBLIC_KEY, path.parent / PUBLIC_KEY, path.parent.parent / PUBLIC_KEY):
        if candidate.is_file():
            return signing.load_verify_key(candidate)
    return None


def verify(path: Path, key: Ed25519PublicKey | None = None) -> Report:
    path = Path(path)
    report = Report()
    key = key or find_key(path)
    if (path / MANIFEST).exists() or (path / "manifest.json.tmp").exists():
        dirs, root = [path], None
    elif (path / "recordings").is_dir():
        dirs, root = sorted(d for d in (path / "recordings").iterdir() if d.is_dir()), path
    else:
        report.problems.append(f"{path}: neither an evidence directory nor a recording")
        return report
    manifests = []
    for directory in dirs:
        rec_report, manifest = _verify_recording(directory, key)
        report.recordings.append(rec_report)
        if manifest is not None:
            manifests.append(manifest)
    manifests = [m for m in manifests if m.get("entries")]
    manifests.sort(key=lambda m: m["entries"][0].get("seq", 0))
    is_case = root is not None and (root / CASE_FILE).exists()
    released = _released_heads(root / AUDIT_FILE) if root is not None else set()
    prev_last = None
    for manifest in manifests:
        joins = manifest.get("chain_prev") in {chain.GENESIS, prev_last} | released
        if not joins and not is_case:
            before = f"after {prev_last[:12]}…" if prev_last else "at the start"
            report.problems.append(
                f"chain gap before {manifest.get('recording')} (seq {manifest['entries'][0].get('seq')}): "
                f"items {before} are missing and no release is logged (a recording removed?)")
        prev_last = manifest["entries"][-1].get("hash")
    if root is not None and not (is_case and _case(root).get("audit_log") is False):
        # (A case the station exported has no audit log: that stays on the dog; case.json says so.)
        anchors = {m.get("audit_head", chain.GENESIS) for m in manifests}
        report.problems += check_audit(root / AUDIT_FILE, anchors)
    return report


def _case(root: Path) -> dict[str, Any]:
    try:
        case = json.loads((root / CASE_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return case if isinstance(case, dict) else {}


def _released_heads(audit: Path) -> set[str]:
    """Last chain hashes of recordings that retention released (the station held them)."""
    heads = set()
    try:
        for raw in audit.read_bytes().splitlines():
            line = json.loads(raw)
            if isinstance(line, dict) and line.get("action") == "released":
                heads.update(RELEASED_HEAD.findall(str(line.get("detail", ""))))
    except (OSError, ValueError):
        pass   # check_audit reports an unreadable log
    return heads


def _verify_recording(directory: Path, key: Ed25519PublicKey | None) -> tuple[RecordingReport, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_bytes())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
            raise ValueError("not a manifest")
    except (OSError, ValueError) as exc:
        rep = RecordingReport(directory.name, "unknown")
        rep.problems.append(f"manifest unreadable or corrupt: {exc}")
        return rep, None
    signature = "no key" if key is None else ("valid" if chain.signature_holds(manifest, key) else "INVALID")
    rep = RecordingReport(str(manifest.get("recording", directory.name)), signature)
    entries = [e for e in manifest["entries"] if isinstance(e, dict)]
    rep.problems += chain.chain_breaks(entries, manifest.get("chain_prev", ""))
    by_hash = {e.get("sha256"): e for e in entries}
    listed = set()
    for entry in entries:
        name = str(entry.get("file", ""))
        listed.add(name)
        rep.items.append((name, _verdict(directory / name, entry, by_hash)))
    for extra in sorted(p.name for p in directory.iterdir() if ITEM_NAME.fullmatch(p.name)):
        if extra not in listed:
            rep.items.append((extra, "unlisted (not in the signed manifest: open at a crash, "
                                     "or added by hand)"))
    return rep, manifest


def _verdict(path: Path, entry: dict[str, Any], by_hash: dict[Any, dict[str, Any]]) -> str:
    label = f"{entry.get('kind', 'item')} {entry.get('seq')}"
    if not path.is_file():
        return f"MISSING ({label})"
    size, digest, chunks = chain.file_digests(path)
    if digest == entry.get("sha256") and size == entry.get("size"):
        return "intact" + (" (sealed after a crash)" if entry.get("recovered") else "")
    if digest in by_hash:
        other = by_hash[digest]
        return f"REORDERED: holds {other.get('kind')} {other.get('seq')} ({other.get('file')}), " \
               f"not {label}"
    recorded = entry.get("chunk_sha256") or []
    first = next((i for i, (a, b) in enumerate(zip(chunks, recorded)) if a != b), None)
    if size < entry.get("size", 0):
        where = f"; bytes differ from offset {first * chain.CHUNK_BYTES}" if first is not None else ""
        return f"TRUNCATED ({label}): {size} of {entry.get('size')} bytes{where}"
    if size > entry.get("size", 0):
        return f"GROWN ({label}): {size} bytes, recorded {entry.get('size')}"
    start = (first or 0) * chain.CHUNK_BYTES
    return f"ALTERED ({label}): bytes {start}-{start + chain.CHUNK_BYTES - 1} differ"
