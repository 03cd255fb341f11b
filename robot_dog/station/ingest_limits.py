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

Events go in two lanes by their severity (`lane`): critical ones (whatever the dog marks
critical: an e-stop engaged, a blocked goal) have a bucket of their own, so a dog's flood of
ordinary events never sheds them; ordinary events have a small burst, since an honest dog sends
a few a minute (state changes with hysteresis, detectors with hold-off) and a burst of a
thousand is a fault or a captured credential. The critical lane is bounded too: a captured dog
could mark every event critical.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

from robot_dog.alarm_policy import ORIGIN, severity_of
from robot_dog.mqtt.topics import Kind


@dataclass(frozen=True)
class Rate:
    per_s: float   # messages per second, sustained
    burst: float   # messages at once


#: The bucket of a dog's critical events (the events' other lane is Kind.EVENTS).
CRITICAL_EVENTS = "events_critical"
#: What decides an event's lane: the severity the dog gives it (schema `event`).
CRITICAL = "critical"

#: Per dog, per kind of message (one table: docs/security.md quotes it).
LIMITS: dict[Kind | str, Rate] = {
    Kind.TELEMETRY: Rate(20.0, 3000.0),
    # info and warning: 200 covers an outbox replay of 25 min offline at one event per 8 s.
    Kind.EVENTS: Rate(10.0, 200.0),
    CRITICAL_EVENTS: Rate(5.0, 1000.0),
    Kind.RESULT: Rate(20.0, 200.0),
    Kind.STATUS: Rate(1.0, 20.0),
    Kind.VIDEO: Rate(80.0, 160.0),     # every camera of the dog together
    Kind.AUDIO: Rate(60.0, 120.0),
    # 256 KiB chunks: 20/s is 5 MB/s, far above an uploader's cap (its outbox holds few at once).
    Kind.EVIDENCE: Rate(20.0, 200.0),
}
MAX_BUCKETS = 4096


def lane(kind: Kind, severity: object = None) -> Kind | str:
    """The bucket a message of `kind` counts against: CRITICAL_EVENTS for an event whose
    `severity` is critical, else its kind."""
    return CRITICAL_EVENTS if kind is Kind.EVENTS and severity == CRITICAL else kind


class IngestLimiter:
    def __init__(self, limits: dict[Kind | str, Rate] | None = None,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self.limits = LIMITS if limits is None else limits
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, Kind | str], list[float]] = OrderedDict()  # [tokens, at]
        self.dropped: Counter[str] = Counter()  # kind (or lane) -> messages dropped

    def admit(self, dog: str, kind: Kind | str, now: float) -> bool:
        """True if a message of `kind` from `dog` at `now` (monotonic s) is within its rate;
        False (and counted) if it must be dropped. Kinds without a limit always pass; `kind`
        may be a lane (`lane()`)."""
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
        self.dropped[str(kind)] += 1
        return False


#: A dog shedding events is told to the console at most this often, s (once per flood, not
#: once per dropped event; the count is in the log lines and the summary's `over_rate`).
SHED_NOTICE_EVERY_S = 600.0


class ShedNotices:
    """When the station tells the console that a dog's events are being shed: at the first
    drop in one of that dog's lanes, then again only after SHED_NOTICE_EVERY_S."""

    def __init__(self, every_s: float = SHED_NOTICE_EVERY_S, max_dogs: int = MAX_BUCKETS) -> None:
        self.every_s, self.max_dogs = every_s, max_dogs
        # (dog, lane) -> when last told (monotonic s)
        self._told: OrderedDict[tuple[str, str], float] = OrderedDict()

    def due(self, dog: str, kind: Kind | str, now: float) -> bool:
        key = (dog, str(kind))
        told = self._told.get(key)
        if told is not None and now - told < self.every_s:
            return False
        self._told[key] = now
        self._told.move_to_end(key)
        while len(self._told) > self.max_dogs:
            self._told.popitem(last=False)
        return True


def shed_notice(dog: str, wall: float, kind: Kind | str, rate: Rate) -> dict[str, object]:
    """The event the station files under `dog` when it starts shedding its events: a warning
    in the alarm queue (not sticky: nothing the dog reported is lost that was critical, unless
    `kind` is the critical lane itself). Its `origin` says the station wrote it, not the dog
    (as link_watch's alarms); its severity is the alarm policy's."""
    critical = kind == CRITICAL_EVENTS
    data = {"shed": str(kind), "critical": critical}
    return {"v": 1, "dog": dog, "ts": wall, "id": f"{ORIGIN}-shed-{int(wall * 1000)}",
            "origin": ORIGIN, "type": "shed", "severity": severity_of("shed", data),
            "message": (f"station: {dog} sends {'critical ' if critical else ''}events faster "
                        f"than {rate.per_s:g}/s (burst {rate.burst:g}); the excess is dropped "
                        f"and counted{'' if critical else ', critical events kept'}"),
            "data": data}
