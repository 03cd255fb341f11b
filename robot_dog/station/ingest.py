"""Turns one MQTT message into storage rows and relay updates (pure, no network).

Every message outside the tree, or malformed, is refused with a reason and counted; the
station keeps running whatever a client publishes.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from robot_dog.station.storage import FrameRow, Row, StatusRow, TelemetryRow

DOG_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_JSON_BYTES = 64 * 1024
MAX_FRAME_BYTES = 4 * 1024 * 1024


class Rejected(ValueError):
    """A message the station refuses; `reason` is a stable short code for counters and logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    dog: str
    camera: str
    jpeg: bytes
    received: float


@dataclass
class Ingest:
    rejected: Counter[str] = field(default_factory=Counter)

    def handle(self, topic: str, payload: bytes, now: float) -> tuple[list[Row], Frame | None]:
        """Rows to store and, for video, the frame to relay. Raises Rejected."""
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != "patrol" or parts[1] != "v1" or not DOG_ID.match(parts[2]):
            raise Rejected("bad_topic", topic)
        dog, kind = parts[2], parts[3]
        if kind == "status" and len(parts) == 4:
            status = payload.decode("utf-8", "replace")
            if status not in ("online", "offline"):
                raise Rejected("bad_status", repr(status[:40]))
            return [StatusRow(dog, status, now)], None
        if kind == "telemetry" and len(parts) == 4:
            doc = _json_object(payload)
            if doc.get("dog") not in (None, dog):
                raise Rejected("dog_mismatch", f"payload says {doc.get('dog')!r} on {dog}'s topic")
            return [TelemetryRow(dog, now, doc)], None
        if kind == "video" and len(parts) == 5:
            if len(payload) > MAX_FRAME_BYTES or not payload.startswith(b"\xff\xd8"):
                raise Rejected("bad_frame", f"{len(payload)} bytes, not a JPEG of at most 4 MiB")
            return [FrameRow(dog, parts[4], len(payload), now)], Frame(dog, parts[4], payload, now)
        raise Rejected("unhandled_topic", topic)


def _json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_JSON_BYTES:
        raise Rejected("oversized", f"{len(payload)} bytes > {MAX_JSON_BYTES}")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected("malformed_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise Rejected("malformed_json", "not a JSON object")
    return doc
