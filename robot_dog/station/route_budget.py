"""How many requests of each kind the station's web server serves at once (pure).

Why: the operator's E-STOP must be served whatever else is going on. The server holds at most
`connections` connections (station/guarded_protocol.py evicts the one waiting longest for its
request to make room); a connection serving a request is never evicted. So the requests that
can last (live pages, video streams) and the reads are bounded here, leaving `reserved`
connections for the priority routes (commands with the bearer token, E-STOP included, login,
logout, voice), which are never refused by this budget:

  `priority`  bearer-token routes: always admitted (a wrong token is answered at once)
  `stream`    an MJPEG stream: at most `streams` (they last as long as the viewer)
  `socket`    a live page's WebSocket: at most `sockets` (as long as the page is open)
  `other`     reads, pages, static files, single frames

and `stream` + `socket` + `other` together at most `connections - reserved`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PRIORITY, STREAM, SOCKET, OTHER = "priority", "stream", "socket", "other"
KINDS = (PRIORITY, STREAM, SOCKET, OTHER)


@dataclass
class RouteBudget:
    connections: int = 64
    streams: int = 16
    sockets: int = 16
    reserved: int = 16
    held: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.reserved < 1 or not 0 < self.streams <= self.connections - self.reserved \
                or not 0 < self.sockets <= self.connections - self.reserved:
            raise ValueError(f"need reserved ({self.reserved}) >= 1 and 0 < streams "
                             f"({self.streams}), sockets ({self.sockets}) <= connections "
                             f"({self.connections}) - reserved")

    def take(self, kind: str) -> str | None:
        """A request of `kind` starts: None (go ahead; `give_back` when it ends) or the refusal
        code (`too_many_streams`, `too_many_sockets`, `busy`: answer 503)."""
        if kind not in KINDS:
            raise ValueError(f"unknown route kind {kind!r}")
        if kind == STREAM and self.held[STREAM] >= self.streams:
            return "too_many_streams"
        if kind == SOCKET and self.held[SOCKET] >= self.sockets:
            return "too_many_sockets"
        if kind != PRIORITY and (self.held[STREAM] + self.held[SOCKET] + self.held[OTHER]
                                 >= self.connections - self.reserved):
            return "busy"
        self.held[kind] += 1
        return None

    def give_back(self, kind: str) -> None:
        if self.held[kind] <= 0:
            raise ValueError(f"no {kind} route held")
        self.held[kind] -= 1
