"""Which connections the station's HTTP server serves (pure: connections are opaque keys).

Why: every connection holds a thread, and the operator's E-STOP must get one whatever else
is going on. A connection is first `reading` (its request is not in yet); once the request is
in, it holds a route of one of three kinds:

  `priority`  commands (E-STOP included) and voice: always served once admitted; a request
              without a valid session or token is answered at once, so only the operators'
              own requests hold one of these for long (logins, which spend a password hash,
              are `other`)
  `stream`    a live MJPEG stream: at most `streams` at once (they last as long as the viewer)
  `other`     reads, the page, single frames

Policy:
- at most `connections` connections are open; a new one beyond that evicts the connection that
  has been `reading` longest (a client trickling its request loses its place to one that sends
  it whole); with none reading, the new one is refused;
- `stream` and `other` routes together hold at most `connections - reserved`, so `reserved`
  connections are always left for priority routes and for new connections to arrive in;
- evicted connections still count (their threads are ending) until `close`, and at most
  `connections` of them: threads stay bounded by twice `connections` even under a flood.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

READING, PRIORITY, STREAM, OTHER, EVICTED = "reading", "priority", "stream", "other", "evicted"


@dataclass(frozen=True)
class Admission:
    admitted: bool
    evict: Hashable | None = None   # a reading connection to close to make room


@dataclass
class ConnectionSlots:
    connections: int = 64
    streams: int = 16
    reserved: int = 16
    _state: dict[Hashable, str] = field(default_factory=dict)   # insertion order = age

    def __post_init__(self) -> None:
        if not 0 < self.streams <= self.connections - self.reserved or self.reserved < 1:
            raise ValueError(f"need 0 < streams ({self.streams}) <= connections "
                             f"({self.connections}) - reserved ({self.reserved}), reserved >= 1")

    def count(self, state: str) -> int:
        return sum(1 for s in self._state.values() if s == state)

    def open(self) -> int:
        """Connections holding a slot (evicted ones excluded)."""
        return len(self._state) - self.count(EVICTED)

    def connect(self, conn: Hashable) -> Admission:
        """A new connection: admitted (reading), perhaps in place of an evicted one, or not."""
        if self.open() < self.connections:
            self._state[conn] = READING
            return Admission(True)
        oldest = next((c for c, s in self._state.items() if s == READING), None)
        if oldest is None or self.count(EVICTED) >= self.connections:
            return Admission(False)
        self._state[oldest] = EVICTED
        self._state[conn] = READING
        return Admission(True, oldest)

    def route(self, conn: Hashable, kind: str) -> str | None:
        """The connection's request is in and wants a route of `kind`; None: go ahead, else the
        refusal code (`too_many_streams`, `busy`; answer 503 and close)."""
        if self._state.get(conn) != READING:
            return "busy"     # evicted meanwhile (or unknown): its socket is being closed
        if kind == STREAM and self.count(STREAM) >= self.streams:
            return "too_many_streams"
        if kind in (STREAM, OTHER) and (self.count(STREAM) + self.count(OTHER)
                                        >= self.connections - self.reserved):
            return "busy"
        if kind not in (PRIORITY, STREAM, OTHER):
            raise ValueError(f"unknown route kind {kind!r}")
        self._state[conn] = kind
        return None

    def close(self, conn: Hashable) -> None:
        self._state.pop(conn, None)
