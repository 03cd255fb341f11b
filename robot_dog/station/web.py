"""The station's HTTP server on 127.0.0.1: viewer page, JSON API and MJPEG video relay.

Routes (every one but the page needs the operator token, as `Authorization: Bearer <token>`
or, for reads, the session cookie that a successful GET /api/operator sets):
  GET /                                the viewer page (its login form; no data)
  GET /api/fleet                       dogs with status, health, last seen, counts
  GET /api/verbs                       the verbs the station may send (robot_dog/verbs.py:
                                       arguments, executor, refusal codes, the page's buttons);
                                       public, like the docs
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
                                       Bearer <token>` (never the cookie: no cross-site
                                       request can send it); `X-Operator: name` (audit `issuer`);
                                       waits up to ?wait=S (default 5, <= 10) for the result:
                                       200 with it, or 202 with the nonce if none came yet
  GET /api/dogs/{dog}/audio/mic        listen-in: s16le 48 kHz mono PCM after ?after=CURSOR
                                       (-1: from now); next cursor in X-Audio-Cursor (a read)
  POST /api/dogs/{dog}/audio/voice     push-to-talk: s16le 48 kHz mono PCM body (<= 1 s,
                                       application/octet-stream, one Content-Length, never
                                       chunked), bearer token like a command; only the operator
                                       who opened the dog's `talk` window (409 otherwise)
  GET /video/{dog}/{camera}.jpg        newest frame
  GET /video/{dog}/{camera}.mjpeg      live multipart stream (newest frame wins)
Anything else gets a JSON error with a status code and a log line (also bad request lines,
unsupported methods and timeouts); a handler error never takes the server down. Requests
whose Host is not this station's loopback address are refused (DNS rebinding).

Limits (docs/security.md, "The station's HTTP server under attack"): a whole request (line,
headers, body) must arrive within REQUEST_TIMEOUT_S of the connection, every write must leave
within WRITE_TIMEOUT_S; at most MAX_CONNECTIONS connections, of which at most MAX_STREAMS video
streams, and RESERVED_CONNECTIONS kept for the bearer-token routes (commands, E-STOP, login):
reads and streams never take those (station/slots.py). A stream notices a client that left
within STREAM_POLL_S even when its camera sends nothing. Wrong tokens lock out the wrong
token itself, never the right one (station/throttle.py).
"""
from __future__ import annotations

import hashlib
import hmac
import http.cookies
import io
import json
import logging
import math
import re
import secrets
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, Callable

from robot_dog import fleet as fleet_mod
from robot_dog import verbs
from robot_dog.errors import Refused
from robot_dog.mqtt import schema, topics
from robot_dog.mqtt.errors import NotConnected
from robot_dog.station import slots as slot_kinds
from robot_dog.station.dispatch import DispatchError, Dispatcher
from robot_dog.station.http_io import AdmittingServer, DeadlineReader, DeadlineWriter, peer_closed
from robot_dog.station.relay import FrameRelay
from robot_dog.station.slots import ConnectionSlots
from robot_dog.station.storage import Storage
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRefused, TalkRelay
from robot_dog.station.throttle import TokenThrottle

_LOGGER = logging.getLogger(__name__)
NAME = topics.DOG_ID.pattern        # dog ids and camera names: the MQTT tree's own rules
BOUNDARY = "robotdogframe"
VERB = topics.VERB.pattern
MAX_BODY_BYTES = 4096
MAX_WAIT_S = 10.0
#: A whole request (line, headers, body) must arrive within this of the connection, s;
#: then the connection is closed, however the bytes were spread out.
REQUEST_TIMEOUT_S = 10.0
#: Each write (a response, one frame of a stream) must leave within this, s.
WRITE_TIMEOUT_S = 10.0
#: Connections open at once (each holds a thread). Beyond it, a new connection takes the place
#: of the one that has been sending its request longest, or is closed if none is.
MAX_CONNECTIONS = 64
#: Live video streams at once (each lasts as long as its viewer); more get 503.
MAX_STREAMS = 16
#: Connections that reads and streams never take: kept for commands (E-STOP), login, voice.
RESERVED_CONNECTIONS = 16
#: Wrong tokens logged one by one per minute; beyond, a count in the next line.
REFUSAL_LINES = 10
#: A stream whose camera sends nothing checks this often whether its client left, s.
STREAM_POLL_S = 1.0
#: A dog reporting "online" whose last telemetry or event is older than this is "degraded":
#: its command and telemetry path is broken even if video still flows. Telemetry is 1-10 Hz.
DEGRADED_AFTER_S = 10.0
SESSION_COOKIE = "robot_dog_session"
SESSION_TTL_S = 8 * 3600.0
MAX_SESSIONS = 256
SERVER_NAME = "robot-dog-station"  # no Python version in the Server header
#: The viewer page talks to this server only (no external network) and is never framed (its
#: e-stop button must not be clickjacked). Its script and style are inline.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


class HttpError(Refused):
    """An HTTP refusal: answered {"error": detail, "code": code}; `code` defaults to the status
    phrase in snake_case ("bad_request", "unauthorized", "too_many_requests")."""

    def __init__(self, status: HTTPStatus, message: str,
                 headers: dict[str, str] | None = None, *, code: str = "") -> None:
        super().__init__(code or status.phrase.lower().replace(" ", "_").replace("-", "_"), message)
        self.status, self.headers = status, headers


class StationHttp:
    """Owns the HTTP server thread; `stop()` closes it and any open video streams."""

    def __init__(self, storage: Storage, relay: FrameRelay, host: str = "127.0.0.1",
                 port: int = 8080, *, dispatcher: Dispatcher | None = None,
                 token: str | None = None, default_issuer: str = "station",
                 allowed_hosts: tuple[str, ...] = (), clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 talk: TalkRelay | None = None) -> None:
        self.storage, self.relay, self.talk = storage, relay, talk
        self.dispatcher, self.token, self.default_issuer = dispatcher, token, default_issuer
        self._clock, self._wall = clock, wall_clock
        self.throttle = TokenThrottle()   # pure: one lock for the server's threads
        self._throttle_lock = threading.Lock()
        self._refusal_lines: list[float] = []   # when wrong tokens were last logged
        self._unlogged_refusals = 0
        self._fingerprint_key = secrets.token_bytes(32)  # wrong tokens are kept as HMACs only
        self._sessions: dict[str, tuple[str, float]] = {}  # cookie -> (operator, expires at)
        self._sessions_lock = threading.Lock()
        self.stopping = threading.Event()
        self.page = resources.files("robot_dog.station").joinpath("web/index.html").read_bytes()
        station = self
        request_timeout_s, write_timeout_s = REQUEST_TIMEOUT_S, WRITE_TIMEOUT_S

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                # One deadline for the whole request, one per write (http_io.py); not
                # StreamRequestHandler's socket timeout, which a trickle of bytes resets.
                self.connection = self.request
                self.rfile = io.BufferedReader(DeadlineReader(
                    self.connection, time.monotonic() + request_timeout_s))
                self.wfile = DeadlineWriter(self.connection, write_timeout_s)

            def do_GET(self) -> None:
                station.handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

            def version_string(self) -> str:
                return SERVER_NAME

            def end_headers(self) -> None:
                self.send_header("X-Content-Type-Options", "nosniff")
                super().end_headers()

            def send_error(self, code: int, message: str | None = None,
                           explain: str | None = None) -> None:
                # http.server's own errors (bad request line, unknown method, timeout): JSON.
                _LOGGER.info("http %s %r -> %d %s", self.client_address[0],
                             (getattr(self, "requestline", "") or "")[:200], code, message or "")
                self.close_connection = True
                try:
                    station.send_json(self, {"error": message or HTTPStatus(code).phrase},
                                      HTTPStatus(code))
                except (OSError, ValueError):
                    pass

            def log_message(self, fmt: str, *args: Any) -> None:
                _LOGGER.debug("http %s - %s", self.address_string(), fmt % args)

            def log_error(self, fmt: str, *args: Any) -> None:  # e.g. "Request timed out"
                _LOGGER.info("http %s - %s", self.client_address[0], fmt % args)

        self.server = AdmittingServer((host, port), Handler, ConnectionSlots(
            MAX_CONNECTIONS, MAX_STREAMS, RESERVED_CONNECTIONS))
        self.stream_poll_s = STREAM_POLL_S
        self.port = self.server.server_address[1]
        names = ("127.0.0.1", "localhost", "[::1]", *allowed_hosts)
        self.allowed_hosts = {h.lower() for n in names for h in (n, f"{n}:{self.port}")}
        self.routes: list[tuple[re.Pattern[str], Callable[..., None]]] = [
            (re.compile(r"^/$"), self._index),
            (re.compile(r"^/api/fleet$"), self._fleet),
            (re.compile(r"^/api/verbs$"), self._verbs),
            (re.compile(r"^/api/operator$"), self._operator),
            (re.compile(r"^/api/logout$"), self._logout),
            (re.compile(rf"^/api/dogs/({NAME})/telemetry$"), self._telemetry),
            (re.compile(rf"^/api/dogs/({NAME})/events$"), self._events),
            (re.compile(rf"^/api/dogs/({NAME})/commands$"), self._audit),
            (re.compile(rf"^/api/dogs/({NAME})/commands/({VERB})$"), self._command),
            (re.compile(rf"^/api/dogs/({NAME})/audio/mic$"), self._mic),
            (re.compile(rf"^/api/dogs/({NAME})/audio/voice$"), self._voice),
            (re.compile(rf"^/video/({NAME})/({NAME})\.jpg$"), self._jpeg),
            (re.compile(rf"^/video/({NAME})/({NAME})\.mjpeg$"), self._mjpeg),
        ]
        # poll 0.05 s (default 0.5 s): stop() waits for the loop to notice, a stop must be quick
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        name="station-http", daemon=True)

    def start(self) -> "StationHttp":
        self._thread.start()
        _LOGGER.info("viewer on http://127.0.0.1:%d/", self.port)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    # Dispatch
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        try:
            host = (req.headers.get("Host") or "").strip().lower()
            if host not in self.allowed_hosts:
                # Another name resolving to us (DNS rebinding) would make us a page's own origin.
                raise HttpError(HTTPStatus.FORBIDDEN, f"unknown Host {host[:100]!r}; use "
                                f"http://127.0.0.1:{self.port}/")
            for pattern, route in self.routes:
                match = pattern.match(path)
                if match:
                    posts = route in (self._command, self._logout, self._voice)
                    if req.command != ("POST" if posts else "GET"):
                        raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{req.command} {path[:200]}")
                    self._take_slot(req, route)
                    route(req, *match.groups())
                    return
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such resource: {path[:200]}")
        except HttpError as exc:
            _LOGGER.info("http %s %s -> %d %s", req.command, path[:200], exc.status, exc)
            self.send_json(req, {"error": exc.detail, "code": exc.code}, exc.status, exc.headers)
        except TimeoutError:
            _LOGGER.info("http %s %s: request not in within %.0f s or a write stalled for "
                         "%.0f s; closed", req.command, path[:200], REQUEST_TIMEOUT_S,
                         WRITE_TIMEOUT_S)
            req.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away mid-response
        except Exception:
            _LOGGER.exception("http %s %s failed", req.command, path[:200])
            self.send_json(req, {"error": "internal error"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _take_slot(self, req: BaseHTTPRequestHandler, route: Callable[..., None]) -> None:
        """The connection's request is in: it now holds a route of its kind (slots.py), or 503."""
        if route in (self._command, self._operator, self._logout, self._voice):
            kind = slot_kinds.PRIORITY
        else:
            kind = slot_kinds.STREAM if route == self._mjpeg else slot_kinds.OTHER
        refusal = req.server.route(req.request, kind)  # type: ignore[attr-defined]
        if refusal == "too_many_streams":
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"{self.server.slots.streams} video "
                            "streams are open; close one or use the .jpg frame", {"Retry-After": "5"})
        if refusal is not None:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the station is busy; try again",
                            {"Retry-After": "1"})

    @staticmethod
    def send_json(req: BaseHTTPRequestHandler, body: Any, status: HTTPStatus = HTTPStatus.OK,
                  headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                req.send_header(name, value)
            req.end_headers()
            if req.command != "HEAD":
                req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass

    # Routes
    def _index(self, req: BaseHTTPRequestHandler) -> None:
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", "text/html; charset=utf-8")
        req.send_header("Content-Length", str(len(self.page)))
        req.send_header("Content-Security-Policy", PAGE_POLICY)
        req.send_header("X-Frame-Options", "DENY")
        req.send_header("Referrer-Policy", "no-referrer")
        req.end_headers()
        req.wfile.write(self.page)

    def _verbs(self, req: BaseHTTPRequestHandler) -> None:
        """The verb registry as the station may use it (robot_dog/verbs.py): the page builds its
        command buttons from this answer."""
        self.send_json(req, verbs.catalog(verbs.STATION))

    def _fleet(self, req: BaseHTTPRequestHandler) -> None:
        self._reader(req)
        counts = self.storage.counts()
        dogs = {d["dog"]: d for d in self.storage.fleet()}
        for dog in counts:
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        cameras: dict[str, list[str]] = {}
        for dog, camera in self.relay.cameras():
            cameras.setdefault(dog, []).append(camera)
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        now = self._wall()
        body = [{**d, "health": health(d["status"], d["last_seen"], now),
                 **counts.get(name, {"telemetry": 0, "frames": 0, "events": 0}),
                 "cameras": cameras.get(name, [])} for name, d in sorted(dogs.items())]
        self.send_json(req, {"dogs": body})

    def _telemetry(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        self._reader(req)
        doc = self.storage.latest_telemetry(dog)
        if doc is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no telemetry from {dog}")
        self.send_json(req, doc)

    @staticmethod
    def _query(req: BaseHTTPRequestHandler) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query).items()}

    def _number(self, req: BaseHTTPRequestHandler, name: str, default: float, hi: float) -> float:
        try:
            value = float(self._query(req).get(name, default))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a finite number") from None
        return min(max(value, 0.0), hi)

    def _events(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        self._reader(req)
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "events": self.storage.events(dog, limit)})

    def _audit(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        self._reader(req)
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "commands": self.storage.commands(dog, limit)})

    # --- authentication ----------------------------------------------------------------------
    def _check_token(self, req: BaseHTTPRequestHandler, what: str, issuer: str) -> None:
        """The request's bearer token is the operator token, or HttpError (401, 429).

        The lockout is kept per credential presented (an HMAC of it), never per client address:
        every local client, and everyone behind a reverse proxy, is 127.0.0.1, and a lockout by
        address let anyone lock the operator out. Wrong tokens lock out only themselves, so the
        right token is never refused because of them."""
        client, now = req.client_address[0], self._clock()
        given = req.headers.get("Authorization", "")
        credential = hmac.new(self._fingerprint_key, given.encode(), hashlib.sha256).hexdigest()
        with self._throttle_lock:
            wait = self.throttle.retry_after(credential, now)
        if wait > 0:  # refused unseen: a guess during a lockout tells nothing
            raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, f"too many tries with this wrong "
                            f"token; retry in {math.ceil(wait)} s",
                            {"Retry-After": str(math.ceil(wait))})
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            with self._throttle_lock:
                lockout = self.throttle.failed(credential, now) if given else 0.0
                # A flood of different guesses: REFUSAL_LINES lines a minute, then a count.
                self._refusal_lines = [t for t in self._refusal_lines if now - t < 60.0]
                logged = bool(lockout) or len(self._refusal_lines) < REFUSAL_LINES
                unlogged, self._unlogged_refusals = (
                    (self._unlogged_refusals, 0) if logged else (0, self._unlogged_refusals + 1))
                if logged:
                    self._refusal_lines.append(now)
            if logged:
                _LOGGER.warning("http: refused %s for operator %r from %s (bad token %s)%s%s",
                                what, issuer[:64], client, credential[:8],
                                f"; this token locked out for {lockout:.0f} s" if lockout else "",
                                f"; {unlogged} more wrong tokens not logged" if unlogged else "")
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong operator token")
        with self._throttle_lock:
            self.throttle.succeeded(credential)

    def _authorize(self, req: BaseHTTPRequestHandler, what: str, *, command: bool = True) -> str:
        """The operator (audit `issuer`) of a request carrying the right operator token."""
        if not self.token or (command and self.dispatcher is None):
            raise HttpError(HTTPStatus.FORBIDDEN, "commands are disabled: no fleet directory or "
                            "operator token configured" if command else "logins are disabled: "
                            "no operator token configured")
        issuer = req.headers.get("X-Operator", self.default_issuer)
        self._check_token(req, what, issuer)
        try:
            fleet_mod.check_user(issuer)
        except fleet_mod.FleetError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return issuer

    def _reader(self, req: BaseHTTPRequestHandler) -> str:
        """Reads (fleet, telemetry, events, audit, video) need a login too: the session cookie
        of the viewer, or the bearer token. Returns the operator."""
        if not self.token:
            raise HttpError(HTTPStatus.FORBIDDEN, "reads are disabled: no operator token "
                            "configured (fleet directory, --operator-token-file or "
                            "ROBOT_DOG_OPERATOR_TOKEN)")
        cookie = self._cookie(req)
        if cookie:
            with self._sessions_lock:
                operator, expires = self._sessions.get(cookie, ("", 0.0))
            if self._clock() < expires:
                return operator
        if not req.headers.get("Authorization"):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "log in first (GET /api/operator with the "
                            "operator token)")
        issuer = req.headers.get("X-Operator", self.default_issuer)
        self._check_token(req, f"read {req.path[:100]}", issuer)
        return issuer

    @staticmethod
    def _cookie(req: BaseHTTPRequestHandler) -> str | None:
        try:
            jar = http.cookies.SimpleCookie(req.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            return None
        morsel = jar.get(SESSION_COOKIE)
        return morsel.value if morsel else None

    def _operator(self, req: BaseHTTPRequestHandler) -> None:
        operator = self._authorize(req, "viewer login", command=False)
        cookie, now = secrets.token_urlsafe(32), self._clock()
        with self._sessions_lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[cookie] = (operator, now + SESSION_TTL_S)
        _LOGGER.info("viewer login: operator %s from %s", operator, req.address_string())
        self.send_json(req, {"operator": operator, "commands": self.dispatcher is not None},
                       headers={"Set-Cookie": (
            f"{SESSION_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; "
            f"Max-Age={int(SESSION_TTL_S)}")})

    def _logout(self, req: BaseHTTPRequestHandler) -> None:
        cookie = self._cookie(req)
        with self._sessions_lock:
            self._sessions.pop(cookie or "", None)
        self.send_json(req, {"logged_out": True}, headers={
            "Set-Cookie": f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"})

    @staticmethod
    def _body(req: BaseHTTPRequestHandler) -> Any:
        """The request's JSON body ({} when empty), read within the size bound, or HttpError."""
        if req.headers.get("Transfer-Encoding"):
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send "
                            "the body with a Content-Length")
        text = (req.headers.get("Content-Length") or "0").strip()
        if not text.isdigit() or not text.isascii():
            raise HttpError(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer")
        length = int(text)
        if length > MAX_BODY_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        if length == 0:
            return {}
        kind = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be "
                            "application/json")
        data = req.rfile.read(length)  # the socket timeout bounds a half-sent body
        if len(data) < length:
            raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length")
        try:
            return schema.strict_loads(data, MAX_BODY_BYTES, "body")
        except schema.SchemaError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body must be a JSON object of arguments "
                            f"({exc.reason})") from None

    def _command(self, req: BaseHTTPRequestHandler, dog: str, verb: str) -> None:
        issuer = self._authorize(req, f"{verb} {dog}")
        args = self._body(req)
        if not isinstance(args, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments")
        wait_s = self._number(req, "wait", 5.0, MAX_WAIT_S)
        try:
            verbs.check(verb, args, verbs.STATION)   # refused here, before it is signed and sent
        except Refused as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, exc.detail, code=exc.code) from None
        try:
            nonce = self.dispatcher.send(dog, verb, args, issuer)
        except DispatchError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc)) from None
        result = self.dispatcher.wait(nonce, wait_s) if wait_s > 0 else None
        if result is None:
            self.send_json(req, {"nonce": nonce, "status": "sent"}, HTTPStatus.ACCEPTED)
        else:
            self.send_json(req, {"nonce": nonce, "status": "done", "result": result})

    def _talk(self) -> TalkRelay:
        if self.talk is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "two-way talk is not enabled on this station")
        return self.talk

    def _mic(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        """The dog's microphone (while a `listen` window is open) as s16le 48 kHz mono PCM after
        `?after=` (a sample cursor; -1 = from now on); the next cursor is in X-Audio-Cursor."""
        self._reader(req)
        try:
            after = int(self._query(req).get("after", "-1"))
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "after must be an integer") from None
        cursor, pcm = self._talk().mic_since(dog, after)
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Length", str(len(pcm)))
        req.send_header("Cache-Control", "no-store")
        req.send_header("X-Audio-Cursor", str(cursor))
        req.send_header("X-Audio-Format", "s16le; rate=48000; channels=1")
        req.end_headers()
        req.wfile.write(pcm)

    def _voice(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        """Push-to-talk: s16le 48 kHz mono PCM (<= 1 s per request) -> Opus on the dog's
        cmd/voice. The dog plays it only inside a `talk` window (POST .../commands/talk)."""
        operator = self._authorize(req, f"voice {dog}")
        talk = self._talk()
        kind = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind != "application/octet-stream":
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be "
                            "application/octet-stream (s16le 48 kHz mono PCM)")
        if req.headers.get("Transfer-Encoding"):  # read past by Content-Length: request smuggling
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted; send "
                            "the body with one Content-Length")
        lengths = req.headers.get_all("Content-Length") or []
        if len(lengths) > 1:
            raise HttpError(HTTPStatus.BAD_REQUEST, "more than one Content-Length")
        text = (lengths[0] if lengths else "").strip()
        if not text.isdigit() or not text.isascii():
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        length = int(text)
        if length > MAX_VOICE_BYTES or length % 2:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > MAX_VOICE_BYTES
                            else HTTPStatus.BAD_REQUEST, f"body of {length} bytes: whole int16 "
                            f"samples, at most {MAX_VOICE_BYTES} bytes")
        pcm = req.rfile.read(length)
        if len(pcm) < length:
            raise HttpError(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length")
        try:
            sent = talk.send_voice(dog, pcm, operator)
        except TalkRefused as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        except NotConnected as exc:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"voice not sent: {exc}") from None
        self.send_json(req, {"dog": dog, "packets": sent})

    def _jpeg(self, req: BaseHTTPRequestHandler, dog: str, camera: str) -> None:
        self._reader(req)
        _seq, frame = self.relay.latest(dog, camera)
        if frame is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no video from {dog}/{camera}")
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", "image/jpeg")
        req.send_header("Content-Length", str(len(frame.jpeg)))
        req.send_header("Cache-Control", "no-store")
        req.end_headers()
        req.wfile.write(frame.jpeg)

    def _mjpeg(self, req: BaseHTTPRequestHandler, dog: str, camera: str) -> None:
        self._reader(req)
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.end_headers()
        seq = 0
        # A camera may send nothing for hours (its dog went offline): look for a client that
        # left between frames too, or its thread and slot stay taken (each page load leaks one).
        while not self.stopping.is_set() and not peer_closed(req.connection):
            new_seq, frame = self.relay.wait_newer(dog, camera, seq, self.stream_poll_s)
            if frame is None or new_seq == seq:
                continue
            seq = new_seq
            req.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            f"{len(frame.jpeg)}\r\n\r\n".encode() + frame.jpeg + b"\r\n")
            req.wfile.flush()


def health(status: str, last_seen: float | None, now: float) -> str:
    """What the viewer shows: "degraded" for a dog that says online but whose telemetry and
    events stopped (last_seen: telemetry, events or its status message), whatever its video
    does; else its status."""
    if status == "online" and (last_seen is None or now - last_seen > DEGRADED_AFTER_S):
        return "degraded"
    return status
