"""What the station stores, one frozen dataclass per kind of message (ingest and the API build them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TelemetryRow:
    dog: str
    received: float
    doc: dict[str, Any]
    raw: str | None = None  # the validated payload as received: stored as is, not re-serialised


@dataclass(frozen=True)
class FrameRow:
    dog: str
    camera: str
    size: int
    received: float


@dataclass(frozen=True)
class StatusRow:
    dog: str
    status: str
    received: float


@dataclass(frozen=True)
class EventRow:
    dog: str
    received: float
    doc: dict[str, Any]


@dataclass(frozen=True)
class ResultRow:
    """A cmd/result from a dog: completes the audit row of its command (matched by nonce)."""
    dog: str
    received: float
    doc: dict[str, Any]


@dataclass(frozen=True)
class DeadLetterRow:
    """A message that can never be stored (refused by ingest): kept for diagnosis, then acked."""
    topic: str
    size: int
    reason: str
    received: float
    detail: str = ""


@dataclass(frozen=True)
class CommandRow:
    """Audit: who sent what to which dog, when (the result arrives later as a ResultRow)."""
    nonce: str
    dog: str
    verb: str
    args: dict[str, Any]
    issuer: str
    issued_at: float


@dataclass(frozen=True)
class RegisteredDog:
    """A dog known from the fleet directory (shown offline until it says otherwise)."""
    dog: str


@dataclass(frozen=True)
class AlarmAckRow:
    """A person acknowledged a dog's event (an alarm): who and when. The first one counts."""
    dog: str
    event_id: str
    acked_by: str
    acked_at: float


@dataclass(frozen=True)
class EvidenceRecordingRow:
    """A recording as its newest verified manifest describes it (station/evidence_intake.py)."""
    dog: str
    recording: str
    device: str
    officer: str
    reason: str
    started_at: float
    ended_at: float | None
    locked: bool
    items: int          # entries in that manifest
    received: float


@dataclass(frozen=True)
class EvidenceItemRow:
    """One item of a recording: `pending` (listed by a verified manifest) or `verified` (the
    station holds the file, its digest matches the signed manifest)."""
    dog: str
    recording: str
    seq: int
    kind: str
    file: str
    size: int
    sha256: str
    start: float
    end: float
    state: str
    verified_at: float | None


Row = (TelemetryRow | FrameRow | StatusRow | EventRow | ResultRow | CommandRow | RegisteredDog
       | DeadLetterRow | AlarmAckRow | EvidenceRecordingRow | EvidenceItemRow)
