"""The station's HTTP server on 127.0.0.1: viewer page, JSON API and MJPEG video relay.

Who may call what is the accounts' business (robot_dog/station/accounts, docs/security.md
"People and roles"): every route but the page and the login names an action of the role table
(`ROUTE_ACTIONS`), and a request is let through only for a principal whose role has it.
A request proves who it is with the session cookie of a password login (plus the header
X-CSRF-Token on every POST) or with a per-person API token as `Authorization: Bearer <token>`.

Routes:
  GET /                                the viewer page (its login form; no data)
  POST /api/login                      {"name", "password"} -> 200 {"name", "role", "csrf"} and
                                       the session cookie (HttpOnly, SameSite=Strict, Secure
                                       behind TLS); 401 bad_credentials, 429 locked_out
  GET /api/session                     {"name", "role", "csrf" (with a cookie)}: who am I
  POST /api/logout                     ends this session
  POST /api/logout-everywhere          ends every session of this account
  GET /api/fleet                       dogs with status, health, last seen, counts
  GET /api/verbs                       the verbs the station may send (robot_dog/verbs.py:
                                       arguments, executor, refusal codes, the page's buttons);
                                       public, like the docs
  GET /api/dogs/{dog}/telemetry        latest telemetry document
  GET /api/dogs/{dog}/events           recent events, newest first (?limit=N, <= 1000)
  GET /api/dogs/{dog}/commands         command log: who sent what when, and the dog's result
  POST /api/dogs/{dog}/commands/{verb} JSON object = args (Content-Type: application/json,
                                       Content-Length, at most 4096 bytes); signed with the
                                       dog's key and the account's name as `issuer`;
                                       waits up to ?wait=S (default 5, <= 10) for the result:
                                       200 with it, or 202 with the nonce if none came yet
  GET /api/dogs/{dog}/audio/mic        listen-in: s16le 48 kHz mono PCM after ?after=CURSOR
                                       (-1: from now); next cursor in X-Audio-Cursor
  POST /api/dogs/{dog}/audio/voice     push-to-talk: s16le 48 kHz mono PCM body (<= 1 s,
                                       application/octet-stream, one Content-Length, never
                                       chunked); only the account that opened the dog's `talk`
                                       window (409 otherwise)
  GET /api/audit                       the audit log, newest first (?limit, ?before=ID, ?kind,
                                       ?actor, ?target); commanders and admins
  GET /api/tokens                      one's own API tokens (?account=NAME or * for admins)
  POST /api/tokens                     {"label"} -> a new API token of one's own, shown once
  POST /api/tokens/{id}/revoke         revoke one (one's own; anyone's for admins)
  GET /api/dogs/{dog}/evidence         recordings (?since=&until=, s since the epoch), newest
                                       first, with their verification state and items
  GET /api/dogs/{dog}/evidence/{recording}/{file}
                                       a verified segment (video/mp4) or still, with HTTP range
                                       requests (206), so a `<video>` can seek (a read)
  POST /api/dogs/{dog}/evidence/export JSON {recordings: [ids], reason}: a tar of the case,
                                       admins (the account is the exporter)
  GET /video/{dog}/{camera}.jpg        newest frame
  GET /video/{dog}/{camera}.mjpeg      live multipart stream (newest frame wins)
Refusals are JSON {"error", "code"} with a status (401 who are you, 403 not your role or a bad
CSRF token, 429 locked out); anything else gets a JSON error with a status code and a log line
(also bad request lines, unsupported methods and timeouts); a handler error never takes the
server down. Requests whose Host is not this station's loopback address are refused (DNS
rebinding).

Limits (docs/security.md, "The station's HTTP server under attack"): a whole request (line,
headers, body) must arrive within REQUEST_TIMEOUT_S of the connection, every write must leave
within WRITE_TIMEOUT_S; at most MAX_CONNECTIONS connections, of which at most MAX_STREAMS video
streams, and RESERVED_CONNECTIONS kept for commands (E-STOP) and voice: reads, logins and
streams never take those (station/slots.py). A stream notices a client that left within
STREAM_POLL_S even when its camera sends nothing.
"""
from __future__ import annotations

import http.cookies
import io
import json
import logging
import math
import re
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, Callable

from robot_dog import verbs
from robot_dog.errors import Refused
from robot_dog.mqtt import schema, topics
from robot_dog.mqtt.errors import NotConnected
from robot_dog.station import slots as slot_kinds
from robot_dog.station.accounts import AccountError, Accounts, Principal, command_action
from robot_dog.station.accounts.access import adopt_operator_token, session_cookie
from robot_dog.station import evidence as evidence_api
from robot_dog.station.dispatch import DispatchError, Dispatcher
from robot_dog.station.http_io import AdmittingServer, DeadlineReader, DeadlineWriter, peer_closed
from robot_dog.station.object_store import ObjectStore
from robot_dog.station.relay import FrameRelay
from robot_dog.station.slots import ConnectionSlots
from robot_dog.station.storage import Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRefused, TalkRelay

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
#: Connections that reads, logins and streams never take: kept for commands (E-STOP), voice.
RESERVED_CONNECTIONS = 16
#: A stream whose camera sends nothing checks this often whether its client left, s.
STREAM_POLL_S = 1.0
#: A dog reporting "online" whose last telemetry or event is older than this is "degraded":
#: its command and telemetry path is broken even if video still flows. Telemetry is 1-10 Hz.
DEGRADED_AFTER_S = 10.0
SESSION_COOKIE = "robot_dog_session"
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

    @classmethod
    def of(cls, exc: AccountError) -> "HttpError":
        wait = math.ceil(exc.retry_after_s)
        return cls(HTTPStatus(exc.status), str(exc), {"Retry-After": str(wait)} if wait else None,
                   code=exc.code)


#: route handler -> the action of the role table (robot_dog/station/accounts/roles.py) it
#: needs; None: open to anyone (the page, the login). A route missing here cannot be added.
#: `command` becomes `estop` for the verbs estop and release (roles.command_action).
ROUTE_ACTIONS: dict[str, str | None] = {
    "_index": None, "_verbs": None, "_login": None, "_session": "session", "_logout": "session",
    "_logout_everywhere": "session", "_fleet": "watch", "_telemetry": "watch",
    "_events": "watch", "_audit": "watch", "_command": "command", "_mic": "listen",
    "_voice": "talk", "_audit_log": "audit", "_tokens": "own_tokens",
    "_new_token": "own_tokens", "_revoke_token": "own_tokens", "_jpeg": "watch",
    "_mjpeg": "watch", "_evidence_list": "watch", "_evidence_item": "watch",
    "_evidence_export": "evidence_export",
}


class StationHttp:
    """Owns the HTTP server thread; `stop()` closes it and any open video streams."""

    def __init__(self, storage: Storage, relay: FrameRelay, host: str = "127.0.0.1",
                 port: int = 8080, *, dispatcher: Dispatcher | None = None,
                 accounts: Accounts | None = None, token: str | None = None,
                 secure_cookies: bool = False, allowed_hosts: tuple[str, ...] = (),
                 wall_clock: Callable[[], float] = time.time,
                 talk: TalkRelay | None = None,
                 evidence: tuple[ObjectStore, Callable[[str], bytes | None]] | None = None) -> None:
        """`accounts`: the station's people (default: the tables in `storage`'s database).
        `token`: an old fleet's shared operator token, kept working as the admin API token of
        the account `operator` (Accounts.migrate_operator_token, as `robot-dog station
        migrate` does). `secure_cookies`: the page is served over TLS (a proxy in front)."""
        self.storage, self.relay, self.talk = storage, relay, talk
        # the object store of verified uploads, and dog -> its evidence public key (PEM)
        self.evidence = evidence
        self.dispatcher = dispatcher
        self.accounts = accounts or Accounts(AccountTables(storage.target))
        self._own_accounts = accounts is None
        if token:
            adopt_operator_token(self.accounts, token)
        self.secure_cookies = secure_cookies
        self._wall = wall_clock
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
        # (path, method, handler, action of the role table; None: no login needed)
        self.routes: list[tuple[re.Pattern[str], str, Callable[..., None], str | None]] = [
            (re.compile(pattern), method, handler, ROUTE_ACTIONS[handler.__name__])
            for pattern, method, handler in (
                (r"^/$", "GET", self._index),
                (r"^/api/verbs$", "GET", self._verbs),
                (r"^/api/login$", "POST", self._login),
                (r"^/api/session$", "GET", self._session),
                (r"^/api/logout$", "POST", self._logout),
                (r"^/api/logout-everywhere$", "POST", self._logout_everywhere),
                (r"^/api/fleet$", "GET", self._fleet),
                (rf"^/api/dogs/({NAME})/telemetry$", "GET", self._telemetry),
                (rf"^/api/dogs/({NAME})/events$", "GET", self._events),
                (rf"^/api/dogs/({NAME})/commands$", "GET", self._audit),
                (rf"^/api/dogs/({NAME})/commands/({VERB})$", "POST", self._command),
                (rf"^/api/dogs/({NAME})/audio/mic$", "GET", self._mic),
                (rf"^/api/dogs/({NAME})/audio/voice$", "POST", self._voice),
                (r"^/api/audit$", "GET", self._audit_log),
                (r"^/api/tokens$", "GET", self._tokens),
                (r"^/api/tokens$", "POST", self._new_token),
                (r"^/api/tokens/([0-9a-f]{1,32})/revoke$", "POST", self._revoke_token),
                (rf"^/api/dogs/({NAME})/evidence$", "GET", self._evidence_list),
                (rf"^/api/dogs/({NAME})/evidence/export$", "POST", self._evidence_export),
                (rf"^/api/dogs/({NAME})/evidence/([A-Za-z0-9_.-]{{1,96}})/([a-z0-9.-]{{1,40}})$", "GET",
                 self._evidence_item),
                (rf"^/video/({NAME})/({NAME})\.jpg$", "GET", self._jpeg),
                (rf"^/video/({NAME})/({NAME})\.mjpeg$", "GET", self._mjpeg))]
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
        if self._own_accounts:
            self.accounts.tables.close()

    # Dispatch
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        try:
            host = (req.headers.get("Host") or "").strip().lower()
            if host not in self.allowed_hosts:
                # Another name resolving to us (DNS rebinding) would make us a page's own origin.
                raise HttpError(HTTPStatus.FORBIDDEN, f"unknown Host {host[:100]!r}; use "
                                f"http://127.0.0.1:{self.port}/")
            matches = [(m, method, route, action) for pattern, method, route, action
                       in self.routes if (m := pattern.match(path))]
            if not matches:
                raise HttpError(HTTPStatus.NOT_FOUND, f"no such resource: {path[:200]}")
            chosen = [r for r in matches if r[1] == req.command]
            if not chosen:
                raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{req.command} {path[:200]}")
            match, _method, route, action = chosen[0]
            self._take_slot(req, route)
            if action is not None:
                self._admit(req, action, match.groups())
            route(req, *match.groups())
        except AccountError as exc:
            self._refuse(req, path, HttpError.of(exc))
        except HttpError as exc:
            self._refuse(req, path, exc)
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

    def _refuse(self, req: BaseHTTPRequestHandler, path: str, exc: HttpError) -> None:
        _LOGGER.info("http %s %s from %s -> %d %s", req.command, path[:200], req.client_address[0],
                     exc.status, exc)
        body = {"error": exc.detail, "code": exc.code}
        self.send_json(req, body, exc.status, exc.headers)

    def _take_slot(self, req: BaseHTTPRequestHandler, route: Callable[..., None]) -> None:
        """The connection's request is in: it now holds a route of its kind (slots.py), or 503."""
        if route in (self._command, self._voice):
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
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "events": self.storage.events(dog, limit)})

    def _audit(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "commands": self.storage.commands(dog, limit)})

    # --- who is asking (robot_dog/station/accounts) -------------------------------------------
    def _admit(self, req: BaseHTTPRequestHandler, action: str, groups: tuple[str | Any, ...]
               ) -> None:
        """Authenticate the request and check its action in the role table, or AccountError.
        The principal is kept on the request for the route (`_who`)."""
        address = req.client_address[0]  # the connection's peer, never a header
        principal = self.accounts.authenticate(
            cookie=self._cookie(req), authorization=req.headers.get("Authorization"),
            csrf=req.headers.get("X-CSRF-Token"), state_changing=req.command != "GET",
            address=address)
        if action == "command":  # e-stop and release are their own action
            action = command_action(groups[1])
        self.accounts.authorize(principal, action, groups[0] if groups else "", address)
        req.principal = principal  # type: ignore[attr-defined]

    @staticmethod
    def _who(req: BaseHTTPRequestHandler) -> Principal:
        principal: Principal = req.principal  # type: ignore[attr-defined]
        return principal

    @staticmethod
    def _cookie(req: BaseHTTPRequestHandler) -> str | None:
        try:
            jar = http.cookies.SimpleCookie(req.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            return None
        morsel = jar.get(SESSION_COOKIE)
        return morsel.value if morsel else None

    def _login(self, req: BaseHTTPRequestHandler) -> None:
        body = self._body(req)
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object {name, password}")
        new = self.accounts.login(body.get("name"), body.get("password"), req.client_address[0])
        self.send_json(req, {"name": new.principal.name, "role": new.principal.role,
                             "csrf": new.csrf, "commands": self.dispatcher is not None},
                       headers={"Set-Cookie": session_cookie(
                           SESSION_COOKIE, new.session_id, new.max_age_s, self.secure_cookies)})

    def _session(self, req: BaseHTTPRequestHandler) -> None:
        who, cookie = self._who(req), self._cookie(req)
        body: dict[str, Any] = {"name": who.name, "role": who.role, "via": who.via,
                                "commands": self.dispatcher is not None}
        if who.via == "session" and cookie:
            body["csrf"] = self.accounts.csrf(cookie)
        self.send_json(req, body)

    def _logout(self, req: BaseHTTPRequestHandler) -> None:
        self.accounts.logout(self._cookie(req) or "", req.client_address[0])
        self.send_json(req, {"logged_out": True}, headers={"Set-Cookie": session_cookie(
            SESSION_COOKIE, "", 0, self.secure_cookies)})

    def _logout_everywhere(self, req: BaseHTTPRequestHandler) -> None:
        ended = self.accounts.logout_everywhere(self._who(req), address=req.client_address[0])
        self.send_json(req, {"logged_out": True, "sessions": ended}, headers={
            "Set-Cookie": session_cookie(SESSION_COOKIE, "", 0, self.secure_cookies)})

    def _audit_log(self, req: BaseHTTPRequestHandler) -> None:
        q = self._query(req)
        try:
            before = int(q["before"]) if "before" in q else None
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "before must be an integer") from None
        entries = self.accounts.audit_page(self._who(req), int(self._number(req, "limit", 100, 1000)),
                                           before_id=before, kind=q.get("kind"),
                                           actor=q.get("actor"), target=q.get("target"))
        self.send_json(req, {"audit": entries,
                             "before": entries[-1]["id"] if entries else None})

    def _tokens(self, req: BaseHTTPRequestHandler) -> None:
        self.send_json(req, {"tokens": self.accounts.list_tokens(
            self._who(req), self._query(req).get("account"))})

    def _new_token(self, req: BaseHTTPRequestHandler) -> None:
        body = self._body(req)
        label = body.get("label", "") if isinstance(body, dict) else ""
        if not isinstance(label, str):
            raise HttpError(HTTPStatus.BAD_REQUEST, "label must be text")
        new = self.accounts.create_token(self._who(req), label)
        self.send_json(req, {"id": new.token_id, "token": new.secret, "account": new.account,
                             "label": new.label})

    def _revoke_token(self, req: BaseHTTPRequestHandler, token_id: str) -> None:
        self.accounts.revoke_token(self._who(req), token_id)
        self.send_json(req, {"revoked": token_id})

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
        who, address = self._who(req), req.client_address[0]
        if self.dispatcher is None:
            raise HttpError(HTTPStatus.FORBIDDEN, "commands are disabled: no fleet directory")
        args = self._body(req)
        if not isinstance(args, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments")
        wait_s = self._number(req, "wait", 5.0, MAX_WAIT_S)
        try:
            verbs.check(verb, args, verbs.STATION)   # refused here, before it is signed and sent
        except Refused as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, exc.detail, code=exc.code) from None
        try:
            nonce = self.dispatcher.send(dog, verb, args, who.issuer)
        except DispatchError as exc:
            self.accounts.record("command", who.name, dog, address=address, ok=False, verb=verb,
                                 reason=str(exc)[:200], via=who.via)
            raise HttpError(HTTPStatus(exc.status), str(exc), code=getattr(exc, "code", "")) from None
        self.accounts.command_sent(who, dog, verb, nonce, address)
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
        operator = self._who(req).issuer
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
            raise HttpError(HTTPStatus.CONFLICT, str(exc), code=exc.code) from None
        except NotConnected as exc:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"voice not sent: {exc}") from None
        self.send_json(req, {"dog": dog, "packets": sent})

    # --- evidence (logic in station/evidence.py; these only speak HTTP) ---------------------
    def _evidence_objects(self) -> tuple[ObjectStore, Callable[[str], bytes | None]]:
        if self.evidence is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "this station keeps no evidence")
        return self.evidence

    def _evidence_list(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        self._evidence_objects()
        query = self._query(req)
        try:
            recordings = evidence_api.list_recordings(self.storage, dog, query.get("since"),
                                                      query.get("until"))
        except evidence_api.EvidenceApiError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc), exc.headers) from None
        self.send_json(req, {"dog": dog, "recordings": recordings})

    def _evidence_item(self, req: BaseHTTPRequestHandler, dog: str, recording: str, file: str) -> None:
        objects, _ = self._evidence_objects()
        try:
            item = evidence_api.open_item(self.storage, objects, dog, recording, file,
                                          req.headers.get("Range"))
        except evidence_api.EvidenceApiError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc), exc.headers) from None
        req.send_response(item.status)
        for name, value in item.headers.items():
            req.send_header(name, value)
        req.end_headers()
        for piece in item.body:
            req.wfile.write(piece)

    def _evidence_export(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        actor = self._who(req).name
        objects, key = self._evidence_objects()
        body = self._body(req)
        recordings, reason = body.get("recordings"), body.get("reason", "")
        if (not isinstance(recordings, list) or not all(isinstance(r, str) for r in recordings)
                or not isinstance(reason, str) or len(reason) > 200):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body: {recordings: [ids], reason: text}")
        pem = key(dog)
        if pem is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no evidence key for {dog}")
        try:
            data = evidence_api.export_case(self.storage, objects, dog, recordings, pem, actor, reason)
        except evidence_api.EvidenceApiError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc), exc.headers) from None
        _LOGGER.info("evidence export: %s exported %s of %s (%s)", actor, recordings, dog, reason)
        self.accounts.record("evidence_export", actor, dog, address=req.client_address[0],
                             recordings=recordings, reason=reason)
        req.send_response(HTTPStatus.OK)
        req.send_header("Content-Type", "application/x-tar")
        req.send_header("Content-Length", str(len(data)))
        req.send_header("Content-Disposition", f'attachment; filename="{dog}-case.tar"')
        req.send_header("Cache-Control", "no-store")
        req.end_headers()
        req.wfile.write(data)

    def _jpeg(self, req: BaseHTTPRequestHandler, dog: str, camera: str) -> None:
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
