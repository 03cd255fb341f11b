"""The station's evidence API, framework-neutral: what the web layer calls to list recordings,
stream a verified segment with HTTP range requests (so a browser's `<video>` can seek), and
export a case. No HTTP server inside: functions take plain values and return plain values or
raise `EvidenceApiError` with the HTTP status to answer.

    list_recordings(storage, dog, since, until)          -> JSON-ready list
    open_item(storage, objects, dog, recording, file, range_header)
                                                          -> ItemStream (status 200/206, headers, body)
    export_case(storage, objects, dog, recordings, key_pem, actor, reason)
                                                          -> bytes of a tar that
                                                             `robot-dog evidence verify` checks
Only verified items are served or exported: a file still being received is not evidence yet.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from robot_dog.bodycam.store import CASE_FILE, MANIFEST, PUBLIC_KEY
from robot_dog.mqtt import evidence as wire
from robot_dog.station.object_store import ObjectStore
from robot_dog.station.storage.reads import StorageReads

CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MAX_EXPORT_RECORDINGS = 50


class EvidenceApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a `Range` header asks of a `size`-byte object (RFC 9110): None
    for the whole object (no header, or one we may ignore: several ranges, another unit);
    EvidenceApiError 416 for a range that cannot be satisfied."""
    if not header:
        return None
    match = RANGE.fullmatch(header.strip())
    if match is None:
        return None     # multipart ranges or another unit: answering 200 with it all is allowed
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:                      # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise EvidenceApiError(416, "empty suffix range", {"Content-Range": f"bytes */{size}"})
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise EvidenceApiError(416, f"range {header!r} outside {size} bytes",
                               {"Content-Range": f"bytes */{size}"})
    return start, end


@dataclass
class ItemStream:
    status: int                    # 200 or 206
    headers: dict[str, str]
    body: Iterator[bytes]


def _query_time(value: str | None, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        out = float(str(value))
    except ValueError:
        raise EvidenceApiError(400, f"{name} must be seconds since the epoch") from None
    if out != out or abs(out) > 1e11:
        raise EvidenceApiError(400, f"{name} out of range")
    return out


def list_recordings(storage: StorageReads, dog: str, since: str | None = None,
                    until: str | None = None) -> list[dict[str, Any]]:
    """A dog's recordings in [since, until] (query strings, s since the epoch), newest first,
    each with its verification state: `verified` (every item of its newest signed manifest is
    held verified), `partial`, or `pending` (none yet), and its items."""
    out = []
    for rec in storage.evidence_recordings(dog, _query_time(since, "since"), _query_time(until, "until")):
        verified, items = rec["verified"], rec["items"]
        state = "verified" if items and verified == items else "partial" if verified else "pending"
        out.append({**rec, "state": state, "files": storage.evidence_items(dog, rec["recording"])})
    return out


def _verified_item(storage: StorageReads, dog: str, recording: str, file: str) -> dict[str, Any]:
    if not wire.RECORDING_ID.fullmatch(recording) or not wire.ITEM_FILE.fullmatch(file):
        raise EvidenceApiError(404, "no such item")
    item = next((i for i in storage.evidence_items(dog, recording) if i["file"] == file), None)
    if item is None:
        raise EvidenceApiError(404, f"{recording} has no item {file}")
    if item["state"] != "verified":
        raise EvidenceApiError(409, f"{file} is not verified yet ({item['state']})")
    return item


def open_item(storage: StorageReads, objects: ObjectStore, dog: str, recording: str, file: str,
              range_header: str | None) -> ItemStream:
    """A verified segment or still, whole (200) or the range asked for (206)."""
    item = _verified_item(storage, dog, recording, file)
    key = f"{dog}/{recording}/{file}"
    size = objects.size(key)
    if size is None or size != item["size"]:
        raise EvidenceApiError(500, f"{file}: the stored object is missing or has the wrong size")
    headers = {"Content-Type": CONTENT_TYPES[file[file.rindex("."):]], "Accept-Ranges": "bytes",
               "Cache-Control": "private, max-age=3600", "ETag": f'"{item["sha256"]}"',
               "X-Evidence-SHA256": item["sha256"]}
    span = parse_range(range_header, size)
    if span is None:
        headers["Content-Length"] = str(size)
        return ItemStream(200, headers, objects.iter_range(key, 0, size - 1) if size else iter(()))
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return ItemStream(206, headers, objects.iter_range(key, start, end))


README = """This case was exported by the station from evidence uploaded by dog {dog}.

Every file under recordings/ is listed in its recording's manifest.json with its SHA-256 and
its place in the device's hash chain; each manifest is signed with the dog's Ed25519 evidence
key (evidence.pub here; check it against the station's copy, station/evidence_keys/{dog}.pub
in the fleet directory). The dog's audit log stays on the dog (export it there with
`robot-dog evidence export`); case.json says so.

Check with the tool:    robot-dog evidence verify <this directory or tar> --key <station's copy>
Check without it:       sha256sum each file and compare it with `sha256` of its entry in
                        manifest.json; verify `sig` (base64url, no padding) with Ed25519 over
                        the bytes "robot-dog evidence manifest v1\\n" followed by the manifest
                        without `sig` as JSON with sorted keys and no whitespace.
"""


def export_case(storage: StorageReads, objects: ObjectStore, dog: str, recordings: list[str],
                key_pem: bytes, actor: str, reason: str, now: float | None = None) -> bytes:
    """A tar of `case/`: recordings/<id>/ (verified items and the signed manifest), evidence.pub,
    case.json, README.txt. Every named recording must be verified in full."""
    if not recordings or len(recordings) > MAX_EXPORT_RECORDINGS:
        raise EvidenceApiError(400, f"name 1..{MAX_EXPORT_RECORDINGS} recordings")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"case/{name}")
            info.size, info.mtime, info.mode = len(data), int(now or time.time()), 0o444
            tar.addfile(info, io.BytesIO(data))
        for rec in recordings:
            if not wire.RECORDING_ID.fullmatch(rec):
                raise EvidenceApiError(404, "no such recording")
            items = storage.evidence_items(dog, rec)
            if not items:
                raise EvidenceApiError(404, f"{dog} has no recording {rec}")
            waiting = [i["file"] for i in items if i["state"] != "verified"]
            if waiting:
                raise EvidenceApiError(409, f"{rec}: {', '.join(waiting)} not verified yet")
            try:
                manifest = objects.read(f"{dog}/{rec}/{MANIFEST}")
            except OSError:
                raise EvidenceApiError(500, f"{rec}: manifest missing from the store") from None
            if len(json.loads(manifest).get("entries", [])) != len(items):
                raise EvidenceApiError(409, f"{rec}: its newest manifest is not fully recorded yet")
            add(f"recordings/{rec}/{MANIFEST}", manifest)
            for item in items:
                add(f"recordings/{rec}/{item['file']}", objects.read(f"{dog}/{rec}/{item['file']}"))
        add(PUBLIC_KEY, key_pem)
        add(CASE_FILE, json.dumps({"dog": dog, "recordings": recordings, "exported_by": actor,
                                   "reason": reason, "at": now or time.time(), "source": "station",
                                   "audit_log": False}, indent=1).encode())
        add("README.txt", README.format(dog=dog).encode())
    return buffer.getvalue()
