"""Storage policy of the evidence directory, pure: which recordings may go, and how full is full.

Rules (law-enforcement recorders never lose evidence on the device):
- only a recording that is ended, not locked, and held verified by the station may be deleted;
  the oldest of those go first, and only as many as bring usage back under the quota;
- locked or not-yet-verified footage is never deleted, so a quota can be exceeded: then the
  state says so. `low` (at `warn_fraction` of the quota, or less than `min_free_bytes` free on
  the disk) is a warning; `full` (quota reached, or under half of `min_free_bytes` free)
  refuses new non-triggered footage; triggered recordings still go on into the reserve
  (an incident is never refused for want of space while the disk has any).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robot_dog.bodycam.store import RecordingInfo

OK, LOW, FULL = "ok", "low", "full"


@dataclass(frozen=True)
class RetentionPolicy:
    quota_bytes: int = 20 * 1024 ** 3
    warn_fraction: float = 0.9
    min_free_bytes: int = 512 * 1024 ** 2    # disk space kept for triggered recordings

    def __post_init__(self) -> None:
        if self.quota_bytes <= 0 or not 0.0 < self.warn_fraction <= 1.0 or self.min_free_bytes < 0:
            raise ValueError("quota_bytes > 0, 0 < warn_fraction <= 1, min_free_bytes >= 0")


def to_delete(recordings: Sequence[RecordingInfo], policy: RetentionPolicy) -> list[RecordingInfo]:
    """Oldest-first releasable recordings whose removal brings usage under the quota."""
    used = sum(r.bytes for r in recordings)
    chosen = []
    for rec in sorted(recordings, key=lambda r: r.started_at):
        if used <= policy.quota_bytes:
            break
        if rec.held and not rec.locked and not rec.open:
            chosen.append(rec)
            used -= rec.bytes
    return chosen


def storage_state(used_bytes: int, disk_free_bytes: int, policy: RetentionPolicy) -> str:
    if used_bytes >= policy.quota_bytes or disk_free_bytes < policy.min_free_bytes // 2:
        return FULL
    if used_bytes >= policy.warn_fraction * policy.quota_bytes or disk_free_bytes < policy.min_free_bytes:
        return LOW
    return OK
