"""The station's web server on 127.0.0.1: pages, JSON API, live WebSocket and video, on one
asyncio loop (FastAPI on uvicorn, in its own thread; the OpenAPI document is /api/openapi.json).

Routes (every one but the page and its static files needs a login: the operator token as
`Authorization: Bearer <token>`, or, for reads, the session cookie that GET /api/operator sets;
station/web_auth.py):
  GET /                                the console page (its login form; no data)
  GET /static/...                      the page's CSS, ES modules and vendored libraries
  GET /api/fleet                       dogs with status, health, last seen, counts
  GET /api/verbs                       the commands the console offers (station/verbs.py)
  GET /api/dogs/{dog}/telemetry        latest telemetry document
  GET /api/dogs/{dog}/events           recent events, newest first (?limit=N, <= 1000)
  GET /api/dogs/{dog}/commands         audit log: who sent what when, and the dog's result
  GET /api/operator                    the viewer's login: same headers as a command; 200
                                       {"operator": name} and a session cookie (HttpOnly,
                                       SameSite=Strict) for reads and video; 401 wrong token,
                                       403 disabled, 429 locked out after repeated wrong tokens
  POST /api/logout                     ends the cookie's session
  POST /api/dogs/{dog}/commands/{verb} JSON object = args (Content-Type: application/json,
                                       Content-Length, at most 4096 bytes); `Authorization:
                                       Bearer <token>` (never the cookie); `X-Operator: name`
                                       (audit `issuer`); waits up to ?wait=S (default 5, <= 10)
                                       for the result: 200 with it, or 202 with the nonce
  GET /api/dogs/{dog}/audio/mic        listen-in: s16le 48 kHz mono PCM after ?after=CURSOR
                                       (-1: from now); next cursor in X-Audio-Cursor (a read)
  POST /api/dogs/{dog}/audio/voice     push-to-talk: s16le 48 kHz mono PCM body (<= 1 s,
                                       application/octet-stream, one Content-Length, never
                                       chunked), bearer token like a command; only the operator
                                       who opened the dog's `talk` window (409 otherwise)
  GET /video/{dog}/{camera}.jpg        newest frame
  GET /video/{dog}/{camera}.mjpeg      live multipart stream (newest frame wins), for scripts
  WS  /api/live                        the page's one live connection (station/live_socket.py)
Anything else gets a JSON error with a status code and a log line; a handler error is a JSON
500, never a dead server. Requests whose Host is not this station's loopback address are
refused (DNS rebinding).

Limits (docs/security.md, "The station's web server under attack"), each with what it protects:
- REQUEST_TIMEOUT_S: a whole request (line, headers, body) must be in within it, however its
  bytes trickle (slowloris); WRITE_TIMEOUT_S: a client that stops reading is cut off after it
  (a stalled stream or WebSocket frees its memory). Both in station/guarded_protocol.py, as
  uvicorn has neither.
- MAX_CONNECTIONS: connections at once; a new one beyond takes the place of the one waiting
  longest for its request (guarded_protocol.py); uvicorn's `limit_concurrency` (one above)
  answers 503 only when every connection is serving a request.
- MAX_STREAMS MJPEG streams, MAX_SOCKETS live pages, and reads: never more than
  MAX_CONNECTIONS - RESERVED_CONNECTIONS together (station/route_budget.py), so the
  bearer-token routes (the E-STOP) always find a connection.
- KEEP_ALIVE_S (uvicorn `timeout_keep_alive`): an idle keep-alive connection closes.
- MAX_HEADER_BYTES (h11's `h11_max_incomplete_event_size`): request line and headers.
- WS_MAX_MESSAGE_BYTES (`ws_max_size`), WS_PING_S (`ws_ping_interval`/`ws_ping_timeout`): a
  page's messages are small; a page that stops answering pings is closed.
Wrong tokens lock out the wrong token itself, never the right one (station/throttle.py).
"""
# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and the
# dependency types are made inside build_app (a string annotation could not be resolved).
import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.staticfiles import StaticFiles

from robot_dog.mqtt import schema
from robot_dog.mqtt.errors import NotConnected
from robot_dog.station import route_budget
from robot_dog.station.dispatch import DispatchError, Dispatcher
from robot_dog.station.guarded_protocol import GuardLimits, guarded
from robot_dog.station.live import LiveHub
from robot_dog.station.live_socket import serve_page
from robot_dog.station.relay import FrameRelay
from robot_dog.station.route_budget import RouteBudget
from robot_dog.station.storage import AlarmAckRow, Storage
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRefused, TalkRelay
from robot_dog.station.verbs import verb_list
from robot_dog.station.web_auth import AuthRefused, StationAuth

_LOGGER = logging.getLogger(__name__)
NAME = r"^[a-z0-9_-]{1,32}$"
VERB = r"^[a-z][a-z0-9_]{0,31}$"
EVENT_ID = r"^[A-Za-z0-9_-]{8,64}$"
BOUNDARY = "robotdogframe"
MAX_BODY_BYTES = 4096
MAX_WAIT_S = 10.0
REQUEST_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
MAX_STREAMS = 16
MAX_SOCKETS = 16
RESERVED_CONNECTIONS = 16
KEEP_ALIVE_S = 5
MAX_HEADER_BYTES = 16 * 1024
WS_MAX_MESSAGE_BYTES = 64 * 1024
WS_PING_S = 10.0
#: A stream whose camera sends nothing looks this often whether it should end, s.
STREAM_POLL_S = 1.0
#: A dog reporting "online" whose last telemetry or event is older than this is "degraded":
#: its command and telemetry path is broken even if video still flows. Telemetry is 1-10 Hz.
DEGRADED_AFTER_S = 10.0
SERVER_NAME = "robot-dog-station"
#: The page talks to this server only (no external network), runs only its own files (no
#: inline script or style) and is never framed (its E-STOP must not be clickjacked).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
               "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
#: Routes by kind (route_budget.py): the bearer-token ones are never refused for room.
PRIORITY_PATHS = ("/api/operator", "/api/logout")


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


def health(status: str, last_seen: float | None, now: float) -> str:
    """What the viewer shows: "degraded" for a dog that says online but whose telemetry and
    events stopped (last_seen: telemetry, events or its status message), whatever its video
    does; else its status."""
    if status == "online" and (last_seen is None or now - last_seen > DEGRADED_AFTER_S):
        return "degraded"
    return status


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers={"Cache-Control": "no-store",
                                                              **(headers or {})})


def _kind(scope: MutableMapping[str, Any]) -> str:
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        return route_budget.SOCKET
    if path.endswith(".mjpeg"):
        return route_budget.STREAM
    if scope.get("method") == "POST" or path in PRIORITY_PATHS:
        return route_budget.PRIORITY
    return route_budget.OTHER


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]],
                    Callable[[Any], Awaitable[None]]], Awaitable[None]]


class Gate:
    """ASGI middleware in front of every route: the Host check (DNS rebinding), then a place in
    the route budget for the request's kind, given back when its handler returns."""

    def __init__(self, app: ASGIApp, station: "StationHttp") -> None:
        self.app, self.station = app, station

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        host = host.strip().lower()
        refusal: JSONResponse | None = None
        if host not in self.station.allowed_hosts:
            # Another name resolving to us (DNS rebinding) would make us a page's own origin.
            _LOGGER.info("http %s %s: unknown Host %r", scope.get("method", "WS"),
                         scope["path"][:200], host[:100])
            refusal = _error(403, f"unknown Host {host[:100]!r}; use "
                                  f"http://127.0.0.1:{self.station.port}/")
        kind = _kind(scope)
        if refusal is None:
            code = self.station.budget.take(kind)
            if code is not None:
                _LOGGER.info("http %s %s: %s", scope.get("method", "WS"), scope["path"][:200], code)
                refusal = _error(503, "too many video streams are open; close one or use the "
                                 ".jpg frame" if code == "too_many_streams" else
                                 "the station is busy; try again", {"Retry-After": "1"})
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.http.response.start",
                            "status": refusal.status_code, "headers": refusal.raw_headers})
                await send({"type": "websocket.http.response.body", "body": refusal.body})
            else:
                await refusal(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.station.budget.give_back(kind)


class StationHttp:
    """Owns the web server's thread and loop; `stop()` closes it, its streams and sockets."""

    def __init__(self, storage: Storage, relay: FrameRelay, host: str = "127.0.0.1",
                 port: int = 8080, *, dispatcher: Dispatcher | None = None,
                 token: str | None = None, default_issuer: str = "station",
                 allowed_hosts: tuple[str, ...] = (), clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 talk: TalkRelay | None = None) -> None:
        self.storage, self.relay, self.talk = storage, relay, talk
        self.dispatcher, self.token = dispatcher, token
        self._wall = wall_clock
        self.auth = StationAuth(token, commands=dispatcher is not None,
                                default_issuer=default_issuer, clock=clock)
        self.live = LiveHub(relay)
        room = MAX_CONNECTIONS - RESERVED_CONNECTIONS
        self.budget = RouteBudget(MAX_CONNECTIONS, min(MAX_STREAMS, room), min(MAX_SOCKETS, room),
                                  RESERVED_CONNECTIONS)
        self.stream_poll_s, self.degraded_after_s = STREAM_POLL_S, DEGRADED_AFTER_S
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        names = ("127.0.0.1", "localhost", "[::1]", *allowed_hosts)
        self.allowed_hosts = {h.lower() for n in names for h in (n, f"{n}:{self.port}")}
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        if dispatcher is not None:
            dispatcher.add_listener(self._result_from_thread)
        self.app = build_app(self)
        http_protocol, ws_protocol, self.guard_counters = guarded(GuardLimits(
            REQUEST_TIMEOUT_S, WRITE_TIMEOUT_S, MAX_CONNECTIONS))
        config = uvicorn.Config(
            Gate(self.app, self), http=http_protocol, ws=ws_protocol, lifespan="off",
            log_config=None, access_log=False, server_header=False, date_header=True,
            headers=[("Server", SERVER_NAME), ("X-Content-Type-Options", "nosniff")],
            limit_concurrency=MAX_CONNECTIONS + 1, timeout_keep_alive=KEEP_ALIVE_S,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES, ws_max_size=WS_MAX_MESSAGE_BYTES,
            ws_ping_interval=WS_PING_S, ws_ping_timeout=WS_PING_S, ws_per_message_deflate=False,
            timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="station-http", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.live.attach(asyncio.get_running_loop())
        await self._server.serve(sockets=[self._sock])

    def start(self) -> "StationHttp":
        self._thread.start()
        deadline = time.monotonic() + 30.0
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the station's web server did not start")
        _LOGGER.info("viewer on http://127.0.0.1:%d/", self.port)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self._sock.close()

    def row(self, row: Any) -> None:
        """A row ingest stored (any thread): pushed to the live pages."""
        self.live.row(row)

    # --- command results ---------------------------------------------------------------------
    def _result_from_thread(self, nonce: str, doc: dict[str, Any]) -> None:
        self.live.call_soon(self._result_arrived, nonce, doc)

    def _result_arrived(self, nonce: str, doc: dict[str, Any]) -> None:
        waiter = self._waiters.get(nonce)
        if waiter is not None and not waiter.done():
            waiter.set_result(doc)

    async def result(self, nonce: str, wait_s: float) -> dict[str, Any] | None:
        """The dog's answer to a command sent from the loop, within `wait_s`, or None."""
        assert self.dispatcher is not None
        if wait_s <= 0:
            return self.dispatcher.result(nonce)
        waiter = self._waiters[nonce] = asyncio.get_running_loop().create_future()
        try:
            found = self.dispatcher.result(nonce)  # it may have come before the waiter
            if found is not None:
                return found
            return await asyncio.wait_for(waiter, wait_s)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiters.pop(nonce, None)

    def acknowledge(self, dog: str, event_id: str, operator: str) -> dict[str, Any]:
        """Store who acknowledged the alarm and when (any thread); every page is told."""
        row = AlarmAckRow(dog, event_id, operator, self._wall())
        self.storage.put(row)
        self.live.row(row)
        _LOGGER.info("alarm %s/%s acknowledged by %s", dog, event_id, operator)
        return {"dog": dog, "event_id": event_id, "acked_by": operator, "acked_at": row.acked_at}

    def fleet(self) -> list[dict[str, Any]]:
        counts = self.storage.counts()
        dogs = {d["dog"]: d for d in self.storage.fleet()}
        for dog in counts:
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        cameras: dict[str, list[str]] = {}
        for dog, camera in self.relay.cameras():
            cameras.setdefault(dog, []).append(camera)
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        now = self._wall()
        return [{**d, "health": health(d["status"], d["last_seen"], now),
                 **counts.get(name, {"telemetry": 0, "frames": 0, "events": 0}),
                 "cameras": cameras.get(name, [])} for name, d in sorted(dogs.items())]


def _finite(name: str, value: float, hi: float) -> float:
    if not math.isfinite(value):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a finite number")
    return min(max(value, 0.0), hi)



def build_app(station: "StationHttp") -> FastAPI:
    app = FastAPI(title="Patrol station", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    auth = station.auth
    Viewer = Annotated[str, Depends(auth.viewer)]
    Operator = Annotated[str, Depends(auth.operator)]
    DogName = Annotated[str, _path(NAME)]
    Limit = Annotated[float, Query(description="at most 1000")]

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> JSONResponse:
        _LOGGER.info("http %s %s -> %d %s", request.method, request.url.path[:200],
                     exc.status, exc)
        return _error(exc.status, str(exc), exc.headers)

    @app.exception_handler(AuthRefused)
    async def _auth_refused(request: Request, exc: AuthRefused) -> JSONResponse:
        _LOGGER.info("http %s %s -> %d %s", request.method, request.url.path[:200],
                     exc.status, exc)
        return _error(exc.status, str(exc), exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = ("no such resource: " + request.url.path[:200] if exc.status_code == 404
                   else f"{request.method[:20]} {request.url.path[:200]}"
                   if exc.status_code == 405 else str(exc.detail))
        _LOGGER.info("http %s %s -> %d", request.method[:20], request.url.path[:200],
                     exc.status_code)
        return _error(exc.status_code, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("loc", ("",))[0] == "path" for e in errors):  # not a name: no such thing
            return _error(404, "no such resource: " + request.url.path[:200])
        text = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                         for e in errors)
        _LOGGER.info("http %s %s -> 400 %s", request.method, request.url.path[:200], text[:200])
        return _error(400, text[:500])

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        _LOGGER.error("http %s %s failed", request.method, request.url.path[:200],
                      exc_info=exc)
        return _error(500, "internal error")

    page = resources.files("robot_dog.station").joinpath("web/index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": PAGE_POLICY, "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)   # none: the browser asks anyway

    app.mount("/static", StaticFiles(directory=str(
        resources.files("robot_dog.station").joinpath("web"))), name="static")

    @app.get("/api/fleet")
    def fleet(_operator: Viewer) -> dict[str, Any]:
        return {"dogs": station.fleet()}

    @app.get("/api/verbs")
    def verbs(_operator: Viewer) -> dict[str, Any]:
        return {"verbs": verb_list()}

    @app.get("/api/dogs/{dog}/telemetry")
    def telemetry(dog: DogName, _operator: Viewer) -> Any:
        doc = station.storage.latest_telemetry(dog)
        if doc is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no telemetry from {dog}")
        return doc

    @app.get("/api/dogs/{dog}/events")
    def events(dog: DogName, _operator: Viewer, limit: Limit = 100) -> dict[str, Any]:
        n = int(_finite("limit", limit, 1000))
        return {"dog": dog, "events": station.storage.events(dog, n)}

    @app.get("/api/dogs/{dog}/commands")
    def audit(dog: DogName, _operator: Viewer, limit: Limit = 100) -> dict[str, Any]:
        n = int(_finite("limit", limit, 1000))
        return {"dog": dog, "commands": station.storage.commands(dog, n)}

    @app.get("/api/alarms")
    def alarms(_operator: Viewer, limit: Limit = 100,
               dog: Annotated[str | None, Query(pattern=NAME)] = None) -> dict[str, Any]:
        """Events of every dog (or `dog`), newest first, with who acknowledged each and when;
        `unacknowledged`: critical ones nobody acknowledged yet."""
        n = int(_finite("limit", limit, 1000))
        return {"alarms": station.storage.alarms(n, dog),
                "unacknowledged": station.storage.unacknowledged()}

    @app.post("/api/dogs/{dog}/events/{event_id}/ack")
    def acknowledge(dog: DogName, event_id: Annotated[str, _path(EVENT_ID)],
                    operator: Operator) -> dict[str, Any]:
        """Acknowledge an alarm: who (the operator) and when are stored; the first one counts."""
        return station.acknowledge(dog, event_id, operator)

    @app.get("/api/operator")
    def operator(request: Request) -> JSONResponse:
        name = auth.login(request)
        cookie = auth.open_session(name)
        _LOGGER.info("viewer login: operator %s from %s", name,
                     request.client.host if request.client else "?")
        return JSONResponse({"operator": name, "commands": station.dispatcher is not None},
                            headers={"Set-Cookie": auth.session_cookie(cookie),
                                     "Cache-Control": "no-store"})

    @app.post("/api/logout")
    def logout(request: Request) -> JSONResponse:
        auth.close_session(request.headers)
        return JSONResponse({"logged_out": True}, headers={"Set-Cookie": auth.cleared_cookie(),
                                                            "Cache-Control": "no-store"})

    @app.post("/api/dogs/{dog}/commands/{verb}", responses={
        202: {"description": "sent; no answer within `wait`"}}, openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}})
    async def command(dog: DogName, verb: Annotated[str, _path(VERB)], request: Request,
                      issuer: Operator,
                      wait: Annotated[float, Query(description="s, at most 10")] = 5.0
                      ) -> JSONResponse:
        args = await _json_body(request)
        if not isinstance(args, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments")
        wait_s = _finite("wait", wait, MAX_WAIT_S)
        assert station.dispatcher is not None  # auth.operator refuses commands without one
        try:
            nonce = station.dispatcher.send(dog, verb, args, issuer)
        except DispatchError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc)) from None
        result = await station.result(nonce, wait_s)
        if result is None:
            return JSONResponse({"nonce": nonce, "status": "sent"}, 202)
        return JSONResponse({"nonce": nonce, "status": "done", "result": result})

    def talk() -> TalkRelay:
        if station.talk is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "two-way talk is not enabled on this station")
        return station.talk

    @app.get("/api/dogs/{dog}/audio/mic", response_class=Response)
    def mic(dog: DogName, _operator: Viewer, after: int = -1) -> Response:
        """The dog's microphone (while a `listen` window is open) as s16le 48 kHz mono PCM
        after `after` (a sample cursor; -1 = from now on); the next cursor in X-Audio-Cursor."""
        cursor, pcm = talk().mic_since(dog, after)
        return Response(pcm, media_type="application/octet-stream", headers={
            "Cache-Control": "no-store", "X-Audio-Cursor": str(cursor),
            "X-Audio-Format": "s16le; rate=48000; channels=1"})

    @app.post("/api/dogs/{dog}/audio/voice", openapi_extra={"requestBody": {"content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def voice(dog: DogName, request: Request, operator: Operator) -> dict[str, Any]:
        """Push-to-talk: s16le 48 kHz mono PCM (<= 1 s per request) -> Opus on the dog's
        cmd/voice. The dog plays it only inside a `talk` window (POST .../commands/talk)."""
        relay = talk()
        kind = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind != "application/octet-stream":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be "
                            "application/octet-stream (s16le 48 kHz mono PCM)")
        length = _content_length(request, required=True)
        if length > MAX_VOICE_BYTES or length % 2:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > MAX_VOICE_BYTES
                            else HTTPStatus.BAD_REQUEST, f"body of {length} bytes: whole int16 "
                            f"samples, at most {MAX_VOICE_BYTES} bytes")
        pcm = await _body(request, length)
        try:
            sent = await asyncio.to_thread(relay.send_voice, dog, pcm, operator)
        except TalkRefused as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        except NotConnected as exc:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"voice not sent: {exc}") from None
        return {"dog": dog, "packets": sent}

    @app.get("/video/{dog}/{camera}.jpg", response_class=Response)
    def jpeg(dog: DogName, camera: Annotated[str, _path(NAME)], _operator: Viewer) -> Response:
        _seq, frame = station.relay.latest(dog, camera)
        if frame is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no video from {dog}/{camera}")
        return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/video/{dog}/{camera}.mjpeg", response_class=StreamingResponse)
    async def mjpeg(dog: DogName, camera: Annotated[str, _path(NAME)],
                    _operator: Viewer) -> StreamingResponse:
        async def parts() -> Any:
            seq = 0
            while not station._server.should_exit:
                seq_now, frame = await station.live.newer_frame(dog, camera, seq,
                                                                station.stream_poll_s)
                if frame is None or seq_now == seq:
                    continue
                seq = seq_now
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                       f"{len(frame.jpeg)}\r\n\r\n".encode() + frame.jpeg + b"\r\n")
        # The client leaving ends it (Starlette listens for the disconnect while streaming),
        # a client that stops reading is cut off by the write deadline.
        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; "
                                 f"boundary={BOUNDARY}", headers={"Cache-Control": "no-store"})

    @app.websocket("/api/live")
    async def live(websocket: WebSocket) -> None:
        await serve_page(station, websocket)

    return app


def _path(pattern: str) -> Any:
    from fastapi import Path
    return Path(pattern=pattern)


def _content_length(request: Request, *, required: bool) -> int:
    """The request's one Content-Length (a chunked body, read by one length by a proxy and
    another here, is request smuggling: refused)."""
    if request.headers.get("Transfer-Encoding"):
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send the "
                        "body with one Content-Length")
    lengths = request.headers.getlist("Content-Length")
    if len(lengths) > 1:
        raise HttpError(HTTPStatus.BAD_REQUEST, "more than one Content-Length")
    text = (lengths[0] if lengths else "").strip()
    if not text:
        if required:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        return 0
    if not text.isdigit() or not text.isascii():
        raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer")
    return int(text)


async def _body(request: Request, length: int) -> bytes:
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
            if len(data) > length:
                raise HttpError(HTTPStatus.BAD_REQUEST, "body longer than its Content-Length")
    except ClientDisconnect:  # closed at the request deadline, or the client left
        raise HttpError(HTTPStatus.BAD_REQUEST, "the client left before its body was in") from None
    if len(data) < length:
        raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length")
    return bytes(data)


async def _json_body(request: Request) -> Any:
    """The request's JSON body ({} when empty), read within the size bound, or HttpError."""
    length = _content_length(request, required=False)
    if length > MAX_BODY_BYTES:
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    if length == 0:
        return {}
    kind = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be "
                        "application/json")
    data = await _body(request, length)
    try:
        return schema.strict_loads(data, MAX_BODY_BYTES, "body")
    except schema.SchemaError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"body must be a JSON object of arguments "
                        f"({exc.reason})") from None

