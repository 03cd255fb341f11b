"""Evidence upload messages, sans-I/O: what the dog publishes on `evidence/{part}` and the
station's acknowledgement (docs/evidence.md#upload).

One message = a header line and a body:

    <canonical JSON header> "\\n" <body bytes>

    evidence/manifest  header {v, dog, recording}                        body: manifest.json
    evidence/chunk     header {v, dog, recording, seq, file, size, offset} body: file bytes
                       [offset, offset + len(body)) of item `seq` (`size` bytes in all)

Binary bodies travel as they are (no base64: a 256 KiB chunk costs 256 KiB on the link). The
header is bounded and strictly typed, the body bounded by its part: `parse` refuses anything
else with a stable code, so garbage never reaches the station's intake.

The acknowledgement goes the other way as the signed command `evidence_ack` (the dog reads
only its cmd/ tree, and a signed command cannot be forged or replayed by a broker credential):
args {recording, items: [[seq, sha256], ...]}: the station holds these items verified, each
with the digest the dog's signed manifest gave it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from robot_dog.mqtt import topics
from robot_dog.mqtt.errors import MqttLinkError

VERSION = 1
ACK_VERB = "evidence_ack"
#: Chunk bodies: a divisor of the manifest's 1 MiB hash pieces (robot_dog/bodycam/chain.py),
#: so the station checks each piece as soon as its chunks are in; far under the broker's 1 MiB
#: packet limit; small enough that one chunk ahead of telemetry delays it little.
CHUNK_BYTES = 256 * 1024
MAX_MANIFEST_BYTES = 512 * 1024
MAX_HEADER_BYTES = 1024
MAX_ITEM_BYTES = 4 * 1024 ** 3
MAX_ACK_ITEMS = 64
RECORDING_ID = re.compile(r"[A-Za-z0-9_.-]{1,96}")
ITEM_FILE = re.compile(r"\d{6,12}-(segment|snapshot)\.(mp4|jpg)")
SHA256 = re.compile(r"[0-9a-f]{64}")


class EvidenceMessageError(MqttLinkError, ValueError):
    """An evidence message or ack that does not follow the format; `code` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class ManifestPart:
    dog: str
    recording: str
    body: bytes


@dataclass(frozen=True)
class ChunkPart:
    dog: str
    recording: str
    seq: int
    file: str
    size: int
    offset: int
    body: bytes


def _header(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def manifest_message(dog: str, recording: str, manifest: bytes) -> tuple[str, bytes]:
    """(topic, payload) of a manifest upload."""
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise EvidenceMessageError("oversized", f"manifest of {len(manifest)} bytes")
    head = _header({"v": VERSION, "dog": dog, "recording": recording})
    return topics.evidence(dog, "manifest"), head + b"\n" + manifest


def chunk_message(dog: str, recording: str, seq: int, file: str, size: int, offset: int,
                  body: bytes) -> tuple[str, bytes]:
    """(topic, payload) of one chunk of an item."""
    head = _header({"v": VERSION, "dog": dog, "recording": recording, "seq": seq, "file": file,
                    "size": size, "offset": offset})
    return topics.evidence(dog, "chunk"), head + b"\n" + body


def _int(header: dict[str, Any], name: str, lo: int, hi: int) -> int:
    value = header.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise EvidenceMessageError("malformed", f"{name} must be an integer in [{lo}, {hi}]")
    return value


def _text(header: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = header.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise EvidenceMessageError("malformed", f"{name} must match {pattern.pattern}")
    return value


def parse(dog: str, part: str, payload: bytes) -> ManifestPart | ChunkPart:
    """Check one received message of `dog` (from its topic) on evidence/`part`."""
    cut = payload.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if cut < 0:
        raise EvidenceMessageError("malformed", "no header line within "
                                   f"{MAX_HEADER_BYTES} bytes")
    try:
        header = json.loads(payload[:cut])
    except ValueError:
        raise EvidenceMessageError("malformed", "header is not JSON") from None
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise EvidenceMessageError("malformed", f"header must be an object with v {VERSION}")
    if header.get("dog") != dog:
        raise EvidenceMessageError("dog_mismatch", f"header says {header.get('dog')!r} on "
                                   f"{dog}'s topic")
    recording = _text(header, "recording", RECORDING_ID)
    body = payload[cut + 1:]
    if part == "manifest":
        if set(header) != {"v", "dog", "recording"}:
            raise EvidenceMessageError("malformed", f"manifest header fields {sorted(header)}")
        if len(body) > MAX_MANIFEST_BYTES:
            raise EvidenceMessageError("oversized", f"manifest of {len(body)} bytes")
        return ManifestPart(dog, recording, body)
    if part != "chunk":
        raise EvidenceMessageError("malformed", f"no evidence part {part!r}")
    if set(header) != {"v", "dog", "recording", "seq", "file", "size", "offset"}:
        raise EvidenceMessageError("malformed", f"chunk header fields {sorted(header)}")
    if not 0 < len(body) <= CHUNK_BYTES:
        raise EvidenceMessageError("oversized", f"chunk body of {len(body)} bytes "
                                   f"(1..{CHUNK_BYTES})")
    size = _int(header, "size", 1, MAX_ITEM_BYTES)
    offset = _int(header, "offset", 0, size - 1)
    if offset % CHUNK_BYTES or offset + len(body) > size:
        raise EvidenceMessageError("malformed", f"chunk at {offset}+{len(body)} does not fit an "
                                   f"item of {size} bytes in {CHUNK_BYTES}-byte steps")
    return ChunkPart(dog, recording, _int(header, "seq", 1, 2 ** 53), _text(header, "file", ITEM_FILE),
                     size, offset, body)


def ack_args(recording: str, items: list[tuple[int, str]]) -> dict[str, Any]:
    """The signed `evidence_ack` command's args."""
    return {"recording": recording, "items": [[seq, digest] for seq, digest in items]}


def parse_ack(args: Any) -> tuple[str, list[tuple[int, str]]]:
    """(recording, [(seq, sha256)]) from a verified `evidence_ack`, or EvidenceMessageError."""
    if not isinstance(args, dict) or set(args) != {"recording", "items"}:
        raise EvidenceMessageError("bad_args", "evidence_ack takes recording and items")
    recording = _text(args, "recording", RECORDING_ID)
    items = args["items"]
    if not isinstance(items, list) or not 0 < len(items) <= MAX_ACK_ITEMS:
        raise EvidenceMessageError("bad_args", f"items must be 1..{MAX_ACK_ITEMS} pairs")
    out = []
    for item in items:
        if (not isinstance(item, list) or len(item) != 2 or isinstance(item[0], bool)
                or not isinstance(item[0], int) or item[0] < 1 or not isinstance(item[1], str)
                or not SHA256.fullmatch(item[1])):
            raise EvidenceMessageError("bad_args", "each item is [seq, sha256 hex]")
        out.append((item[0], item[1]))
    return recording, out
