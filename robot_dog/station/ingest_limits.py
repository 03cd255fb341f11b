"""Per-dog ingest rate limits at the station (pure: no clock, no I/O): token buckets per dog and
kind of message, so one dog (or a captured dog's credential) flooding its own tree cannot fill
the database or slow the fleet pages, and the other dogs' data goes on being stored in full.

A bucket holds `burst` messages and refills at `per_s`. The rates sit well above what an honest
dog sends (telemetry <= 10 Hz, video <= 15 frames/s per camera, Opus audio 50 packets/s) and the
bursts cover an outbox replay after a link outage: telemetry at 2 Hz for 25 min (3,000
messages) arrives at once and is stored whole; a longer backlog is thinned, counted as dropped.
A message over the limit is dropped and counted per kind; the caller logs the 1st, 10th, 100th...
(robot_dog/log_rate.py). At most MAX_BUCKETS (dog, kind) pairs are tracked, the least recently
used forgotten first: station users may write cmd/ of any dog name, and a forgotten bucket only
starts full again.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

from robot_dog.mqtt.topics import Kind


@dataclass(frozen=True)
class Rate:
    per_s: float   # messages per second, sustained
    burst: float   # messages at once


#: Per dog, per kind of message (one table: docs/security.md quotes it).
LIMITS: dict[Kind, Rate] = {
    Kind.TELEMETRY: Rate(20.0, 3000.0),
    Kind.EVENTS: Rate(20.0, 1000.0),
    Kind.RESULT: Rate(20.0, 200.0),
    Kind.STATUS: Rate(1.0, 20.0),
    Kind.VIDEO: Rate(80.0, 160.0),     # every camera of the dog together
    Kind.AUDIO: Rate(60.0, 120.0),
    # 256 KiB chunks: 20/s is 5 MB/s, far above an uploader's cap (its outbox holds few at once).
    Kind.EVIDENCE: Rate(20.0, 200.0),
}
MAX_BUCKETS = 4096


class IngestLimiter:
    def __init__(self, limits: dict[Kind, Rate] | None = None, max_buckets: int = MAX_BUCKETS) -> None:
        self.limits = LIMITS if limits is None else limits
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, Kind], list[float]] = OrderedDict()  # [tokens, at]
        self.dropped: Counter[str] = Counter()  # kind -> messages dropped

    def admit(self, dog: str, kind: Kind, now: float) -> bool:
        """True if a message of `kind` from `dog` at `now` (monotonic s) is within its rate;
        False (and counted) if it must be dropped. Kinds without a limit always pass."""
        rate = self.limits.get(kind)
        if rate is None:
            return True
        bucket = self._buckets.get((dog, kind))
        if bucket is None:
            bucket = self._buckets[(dog, kind)] = [rate.burst, now]
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end((dog, kind))
            bucket[0] = min(rate.burst, bucket[0] + max(0.0, now - bucket[1]) * rate.per_s)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        self.dropped[kind.value] += 1
        return False
