"""uvicorn's HTTP/1.1 (h11) and WebSocket protocols with the bounds uvicorn lacks.

uvicorn bounds what it can see: `limit_concurrency` (503 beyond that many connections or
tasks), `timeout_keep_alive` (an idle keep-alive connection closes), h11's
`h11_max_incomplete_event_size` (request line + headers), the WebSocket's `ws_max_size` and
ping timeout. It has no deadline for a whole request: a client that trickles one header
byte every few seconds (slowloris), or a body after complete headers, keeps its connection
for ever, since each byte resets the keep-alive timer. And a client that stops reading holds
whatever its response or stream was writing. So, per connection:

- request deadline: a request (line, headers, body) must be in within `request_timeout_s` of
  the connection, or of the previous response on a keep-alive connection; else it is closed.
  A request that is in (its handler running, a stream, an upgraded WebSocket) is not bound by
  it: the routes bound themselves.
- write deadline: once the transport's buffer is over its high-water mark, the client has
  `write_timeout_s` to take it below again, or the connection is aborted (its buffer freed).
- room for a new connection: beyond `max_connections`, a new connection takes the place of
  the one that has waited longest for its request (a trickler loses its place to a client
  that sends its request whole). Connections serving a request are never evicted: what routes
  may hold them is bounded by the app (station/route_budget.py), which leaves room for the
  E-STOP.

The bounds come in through `GuardLimits`, set on the class by `guarded(limits)`.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from robot_dog.log_rate import worth_a_line

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardLimits:
    request_timeout_s: float
    write_timeout_s: float
    max_connections: int


@dataclass
class GuardCounters:
    """What the guards did (logged as they grow, read by tests and benchmarks)."""
    overdue: int = 0      # requests not in within the request deadline: closed
    stalled: int = 0      # clients that did not read within the write deadline: aborted
    evicted: int = 0      # unfinished requests closed to make room for a new connection


class _WriteDeadline:
    """Mixin for an asyncio.Protocol: aborts the transport when writing stays paused (the
    client does not read) longer than the limit."""
    limits: GuardLimits
    counters: GuardCounters
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _stall: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]
        if self._stall is None:
            self._stall = self.loop.call_later(self.limits.write_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().resume_writing()  # type: ignore[misc]

    def _stalled(self) -> None:
        self._stall = None
        if self.transport.get_protocol() is not self or self.transport.is_closing():  # type: ignore[comparison-overlap]
            return  # the connection was upgraded (its new protocol has its own timer) or ends
        self.counters.stalled += 1
        if worth_a_line(self.counters.stalled):
            _LOGGER.info("http: a client read nothing for %.0f s; connection aborted (#%d)",
                         self.limits.write_timeout_s, self.counters.stalled)
        self.transport.abort()


class GuardedH11Protocol(_WriteDeadline, H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._make_room()
        super().connection_made(transport)
        self._arm_request_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stall):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_request_deadline()   # the next request on this connection

    def waiting_for_request(self) -> bool:
        """True while the request is not all in: none yet, or its body still arriving."""
        cycle = self.cycle
        return cycle is None or cycle.response_complete or cycle.more_body

    def _arm_request_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._overdue)

    def _overdue(self) -> None:
        self._deadline = None
        if (self.transport.get_protocol() is not self or self.transport.is_closing()
                or not self.waiting_for_request()):
            return
        self.counters.overdue += 1
        if worth_a_line(self.counters.overdue):
            _LOGGER.info("http %s: request not in within %.0f s; closed (#%d)",
                         (self.client or ("?",))[0], self.limits.request_timeout_s,
                         self.counters.overdue)
        self.transport.close()

    def _make_room(self) -> None:
        if len(self.connections) < self.limits.max_connections:
            return
        waiting = [c for c in self.connections if isinstance(c, GuardedH11Protocol)
                   and c.transport is not None and not c.transport.is_closing()
                   and c.waiting_for_request()]
        if not waiting:
            return  # every connection serves a request: uvicorn's limit_concurrency answers 503
        oldest = min(waiting, key=lambda c: c._waiting_since)
        self.counters.evicted += 1
        if worth_a_line(self.counters.evicted):
            _LOGGER.warning("http: %d connections open, closed the one that has waited longest "
                            "for its request (#%d)", len(self.connections), self.counters.evicted)
        self.connections.discard(oldest)
        oldest.transport.close()

    def send_400_response(self, msg: str) -> None:
        """h11 could not parse the request (a bad request line, Content-Length, header):
        a JSON error like every other refusal, then the connection closes."""
        _LOGGER.info("http %s: unparsable request: %s", (self.client or ("?",))[0],
                     self.conn.their_state)
        body = json.dumps({"error": "bad request: " + msg}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode()),
                   *self.server_state.default_headers]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers,
                                                             reason=b"Bad Request")) or b"")
            self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            pass  # a response was already under way
        self.transport.close()


class GuardedWebSocketProtocol(_WriteDeadline, WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets, sans-I/O) with the write deadline."""

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stall is not None:
            self._stall.cancel()
        super().connection_lost(exc)


def guarded(limits: GuardLimits) -> tuple[type[GuardedH11Protocol], type[GuardedWebSocketProtocol],
                                          GuardCounters]:
    """Protocol classes for one server (uvicorn.Config(http=..., ws=...)) and their counters."""
    counters = GuardCounters()
    http = type("StationH11Protocol", (GuardedH11Protocol,),
                {"limits": limits, "counters": counters})
    ws = type("StationWebSocketProtocol", (GuardedWebSocketProtocol,),
              {"limits": limits, "counters": counters})
    return http, ws, counters
