"""The station's own alarm about a dog's link: a dog that goes offline or silent raises a critical
`offline` event, and one heard again after that an `online` event (info), stored and pushed like
the dogs' events so a person acknowledges it (who and when).

Why the station watches silence too, not only the dog's status: the broker publishes a dead
dog's Last Will ("offline") only 1.5 keep-alives (45 s) after its link died, and a dog whose
uplink hangs with its TCP link up never says offline at all. `silent_after_s` is longer than
the console's "degraded" (web.DEGRADED_AFTER_S: the banner changes first; telemetry is 1-10 Hz)
so a hiccup does not raise an alarm.

Sans-I/O: rows and `now` (s since the Unix epoch) in, event rows out; StationHttp feeds it every
row ingest stores and ticks it every second. Only dogs heard up since the station started are
watched: a dog already offline when the station starts is not news (no alarm flood on a
restart). A worker of a shared group (docs/scale_out.md) raises none: it hears only its share of
each dog's telemetry, and every worker would raise its own alarm.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from robot_dog.alarm_policy import ORIGIN, severity_of
from robot_dog.station.storage import EventRow, ResultRow, Row, StatusRow, TelemetryRow

#: No telemetry, event, result or status from an online dog for this long: offline, s.
SILENT_AFTER_S = 15.0


@dataclass
class _Link:
    up: bool
    heard: float          # newest row from the dog, s since the epoch
    down_since: float = 0.0


@dataclass
class LinkWatch:
    silent_after_s: float = SILENT_AFTER_S
    #: Event ids are `station-{boot}-{n}`: unique across station restarts (as a dog's are).
    boot: str = field(default_factory=lambda: secrets.token_hex(4))
    count: int = 0
    links: dict[str, _Link] = field(default_factory=dict)

    def row(self, row: Row) -> list[EventRow]:
        """A row ingest stored: the events it raises (at most one)."""
        if isinstance(row, StatusRow):
            if row.status == "offline":
                return self._down(row.dog, row.received, "status")
            return self._heard(row.dog, row.received) if row.status == "online" else []
        if isinstance(row, EventRow) and row.doc.get("origin") == ORIGIN:
            return []     # our own
        if isinstance(row, (TelemetryRow, EventRow, ResultRow)):
            return self._heard(row.dog, row.received)
        return []         # video frames alone do not carry the dog's commands and state

    def tick(self, now: float) -> list[EventRow]:
        """The dogs that fell silent by `now`."""
        silent = [dog for dog, link in self.links.items()
                  if link.up and now - link.heard > self.silent_after_s]
        return [event for dog in silent for event in self._down(dog, now, "silent")]

    def _heard(self, dog: str, now: float) -> list[EventRow]:
        link = self.links.get(dog)
        if link is None:
            self.links[dog] = _Link(True, now)
            return []
        link.heard = max(link.heard, now)
        if link.up:
            return []
        link.up = True
        down_s = round(max(0.0, now - link.down_since), 1)
        return [self._event(dog, now, "online", f"heard again after {down_s:g} s",
                            {"offline_s": down_s})]

    def _down(self, dog: str, now: float, reason: str) -> list[EventRow]:
        link = self.links.get(dog)
        if link is None or not link.up:
            return []     # never heard up here, or already down: no news
        link.up, link.down_since = False, now
        silent_s = round(max(0.0, now - link.heard), 1)
        text = (f"nothing heard for {silent_s:g} s" if reason == "silent"
                else "link closed (status offline)")
        return [self._event(dog, now, "offline", text, {"reason": reason, "silent_s": silent_s,
                                                        "last_heard": link.heard})]

    def _event(self, dog: str, now: float, type_: str, message: str,
               data: dict[str, Any]) -> EventRow:
        self.count += 1
        doc = {"v": 1, "dog": dog, "ts": now, "id": f"{ORIGIN}-{self.boot}-{self.count}",
               "type": type_, "severity": severity_of(type_, data), "message": message,
               "data": data, "origin": ORIGIN}
        return EventRow(dog, now, doc)
