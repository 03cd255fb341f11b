"""The station's web server on 127.0.0.1: pages, JSON API, live WebSocket and video, on one
asyncio loop (FastAPI on uvicorn, in its own thread; the OpenAPI document is /api/openapi.json).

Who may call what is the accounts' business (robot_dog/station/accounts, docs/security.md
"People and roles"): every route but the pages and the login names an action of the role table
(`ROUTE_ACTIONS`), and a request is let through only for a principal whose role has it
(station/web_auth.py). A request proves who it is with the session cookie of a password login
(plus the header X-CSRF-Token on every POST) or with a per-person API token as
`Authorization: Bearer <token>`.

Routes:
  GET /                                the station console (its login form; no data)
  GET /viewer                          the plain viewer page (one card per dog; polls the API)
  GET /static/...                      the pages' CSS, ES modules and vendored libraries
  GET /api/verbs                       the verbs the station may send (robot_dog/verbs.py:
                                       arguments, executor, refusal codes, the page's buttons);
                                       public, like the docs
  POST /api/login                      {"name", "password"} -> 200 {"name", "role", "csrf"} and
                                       the session cookie (HttpOnly, SameSite=Strict, Secure
                                       behind TLS); 401 bad_credentials, 429 locked_out
  GET /api/session                     {"name", "role", "via", "csrf" (with a cookie)}: who am I
  POST /api/logout                     ends this session
  POST /api/logout-everywhere          ends every session of this account
  GET /api/fleet                       dogs with status, health, last seen, counts
  GET /api/dogs/{dog}/telemetry        latest telemetry document
  GET /api/dogs/{dog}/events           recent events, newest first (?limit=N, <= 1000)
  GET /api/dogs/{dog}/commands         command log: who sent what when, and the dog's result
  POST /api/dogs/{dog}/commands/{verb} JSON object = args (Content-Type: application/json,
                                       Content-Length, at most 4096 bytes); checked against the
                                       verb registry, signed with the dog's key and the
                                       account's name as `issuer`; waits up to ?wait=S
                                       (default 5, <= 10) for the result: 200 with it, or 202
  GET /api/alarms                      events of every dog with who acknowledged each and when
  POST /api/dogs/{dog}/events/{id}/ack acknowledge an alarm (who and when are stored)
  GET /api/dogs/{dog}/audio/mic        listen-in: s16le 48 kHz mono PCM after ?after=CURSOR
                                       (-1: from now); next cursor in X-Audio-Cursor
  POST /api/dogs/{dog}/audio/voice     push-to-talk: s16le 48 kHz mono PCM body (<= 1 s,
                                       application/octet-stream, one Content-Length, never
                                       chunked); only the account that opened the dog's `talk`
                                       window (409 otherwise)
  GET /api/audit                       the audit log, newest first (?limit, ?before=ID, ?kind,
                                       ?actor, ?target, ?since, ?until: s since the epoch);
                                       commanders and admins
  GET /api/accounts                    admins: every account, its role and state
  POST /api/accounts                   admins: {"name", "role", "password"?} a new account; without
                                       a password a one-time one is made and answered this once
  POST /api/accounts/role              admins: {"name", "role"}
  POST /api/accounts/password          admins: {"name", "password"?}: a new password (one-time if
                                       none, answered once); every session of the account ends
  POST /api/accounts/disable|enable    admins: {"name"}: disabled, its sessions end and its tokens
                                       stop at once. The last enabled admin cannot be disabled or
                                       given another role: 409 last_admin
  POST /api/accounts/logout-everywhere admins: {"name"}: every session of that account ends
  GET /api/pairings                    which officer each dog's handheld pairing code went to
  POST /api/dogs/{dog}/handheld/pair   {"officer"}: the dog opens a one-time pairing code for that
                                       officer (an enabled officer or operator account); answered
                                       once as {"pairing_code"} (it crosses the broker and the
                                       station's storage sealed, robot_dog/mqtt/reply_seal.py);
                                       waits up to 10 s for the dog. Officers act on the dogs
                                       paired to them only (the verb revoke_handheld ends that)
  GET /api/tokens                      one's own API tokens (?account=NAME or * for admins)
  POST /api/tokens                     {"label"} -> a new API token of one's own, shown once
  POST /api/tokens/{id}/revoke         revoke one (one's own; anyone's for admins)
  GET /api/dogs/{dog}/evidence         recordings (?since=&until=, s since the epoch), newest
                                       first, with their verification state and items
  GET /api/dogs/{dog}/evidence/{recording}/{file}
                                       a verified segment (video/mp4) or still, with HTTP range
                                       requests (206), so a `<video>` can seek
  POST /api/dogs/{dog}/evidence/export JSON {recordings: [ids], reason}: a tar of the case,
                                       admins (the account is the exporter)
  GET /video/{dog}/{camera}.jpg        newest frame
  GET /video/{dog}/{camera}.mjpeg      live multipart stream (newest frame wins), for scripts
  WS  /api/live                        the console's one live connection (station/live_socket.py)
  GET|POST /api/incidents...           incidents: list, open, the two-click dispatch, timeline,
                                       notes, dogs, officers, close, export
                                       (station/incident_routes.py)
Refusals are JSON {"error", "code"} with a status (401 who are you, 403 not your role or a bad
CSRF token, 429 locked out); anything else gets a JSON error with a status code and a log line;
a handler error is a JSON 500, never a dead server. Requests whose Host is not this station's
loopback address are refused (DNS rebinding).

Limits (docs/security.md, "The station's web server under attack"), each with what it protects:
- REQUEST_TIMEOUT_S: a whole request (line, headers, body) must be in within it, however its
  bytes trickle (slowloris); WRITE_TIMEOUT_S: a client that stops reading is cut off after it
  (a stalled stream or WebSocket frees its memory). Both in station/guarded_protocol.py, as
  uvicorn has neither.
- MAX_CONNECTIONS: connections at once; a new one beyond takes the place of the one waiting
  longest for its request (guarded_protocol.py); uvicorn's `limit_concurrency` (one above)
  answers 503 only when every connection is serving a request.
- MAX_STREAMS MJPEG streams, MAX_SOCKETS live pages, and reads, pages and logins: never more
  than MAX_CONNECTIONS - RESERVED_CONNECTIONS together (station/route_budget.py), so commands
  (the E-STOP) and voice always find a connection.
- Worker threads: commands and voice check their caller and sign on PRIORITY_THREADS threads of
  their own, logins hash passwords on LOGIN_THREADS (argon2 takes a core each): a flood of page
  loads, reads or logins never queues an E-STOP behind it.
- KEEP_ALIVE_S (uvicorn `timeout_keep_alive`): an idle keep-alive connection closes.
- MAX_HEADER_BYTES (h11's `h11_max_incomplete_event_size`): request line and headers.
- WS_MAX_MESSAGE_BYTES (`ws_max_size`), WS_PING_S (`ws_ping_interval`/`ws_ping_timeout`): a
  page's messages are small; a page that stops answering pings is closed.
"""
# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and the
# dependency types are made inside build_app (a string annotation could not be resolved).
import asyncio
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import anyio
import uvicorn
from fastapi import Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.staticfiles import StaticFiles

from robot_dog import verbs
from robot_dog.errors import Refused
from robot_dog.mqtt import reply_seal, schema, topics
from robot_dog.mqtt.errors import NotConnected
from robot_dog.station import evidence as evidence_api
from robot_dog.station import route_budget
from robot_dog.station.accounts import AccountError, Accounts, Principal, credentials
from robot_dog.station.dispatch import DispatchError, Dispatcher
from robot_dog.station.guarded_protocol import GuardLimits, guarded
from robot_dog.station import incident_routes
from robot_dog.station.incident_service import IncidentService
from robot_dog.station.live import LiveHub
from robot_dog.station.link_watch import LinkWatch
from robot_dog.station.live_socket import serve_page
from robot_dog.station.object_store import ObjectStore
from robot_dog.station.relay import FrameRelay
from robot_dog.station.route_budget import RouteBudget
from robot_dog.station.storage import AlarmAckRow, EventRow, StatusRow, Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.incident_tables import IncidentTables
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRefused, TalkRelay
from robot_dog.station.web_auth import HttpError, WebAuth, peer, session_id

_LOGGER = logging.getLogger(__name__)
NAME = topics.DOG_ID.pattern        # dog ids and camera names: the MQTT tree's own rules
VERB = topics.VERB.pattern
EVENT_ID = r"[A-Za-z0-9_-]{8,64}"
RECORDING = r"[A-Za-z0-9_.-]{1,96}"
EVIDENCE_FILE = r"[a-z0-9.-]{1,40}"
TOKEN_ID = r"[0-9a-f]{1,32}"
#: Largest cursor or row id a query may name (a database integer holds it).
MAX_ID = 2**62
BOUNDARY = "robotdogframe"
MAX_BODY_BYTES = 4096
MAX_WAIT_S = 10.0
REQUEST_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
MAX_STREAMS = 16
MAX_SOCKETS = 16
RESERVED_CONNECTIONS = 16
#: Worker threads for commands and voice (their auth, signing and audit line), apart from the
#: threads reads and pages use; and for logins (one argon2 at a time anyway, Accounts).
PRIORITY_THREADS = 8
LOGIN_THREADS = 2
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
#: The pages talk to this server only (no external network), run only its own files (no
#: inline script or style) and are never framed (the E-STOP must not be clickjacked).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
               "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")
PAGES = {"/": "index.html", "/viewer": "viewer.html"}

#: route handler -> the action of the role table (robot_dog/station/accounts/roles.py) it
#: needs; None: open to anyone (the pages, the verb list, the login). A route missing here
#: cannot be added (build_app refuses it). `command` becomes `estop` for the verbs estop and
#: estop_release (roles.command_action).
ROUTE_ACTIONS: dict[str, str | None] = {
    "_index": None, "_viewer": None, "_verbs": None, "_login": None, "_session": "session",
    "_logout": "session", "_logout_everywhere": "session", "_fleet": "watch",
    "_telemetry": "watch", "_events": "watch", "_audit": "watch", "_command": "command",
    "_alarms": "watch", "_acknowledge": "acknowledge", "_mic": "listen", "_voice": "talk",
    "_audit_log": "audit", "_tokens": "own_tokens", "_new_token": "own_tokens",
    "_revoke_token": "own_tokens", "_jpeg": "watch", "_mjpeg": "watch",
    "_evidence_list": "watch", "_evidence_item": "watch", "_evidence_export": "evidence_export",
    "_live": "watch", "_accounts": "accounts", "_add_account": "accounts",
    "_account_role": "accounts", "_account_password": "accounts",
    "_account_disable": "accounts", "_account_enable": "accounts",
    "_account_logout": "accounts", "_pairings": "pair", "_pair": "pair",
    **incident_routes.ROUTE_ACTIONS,
}
#: Verbs with a route of their own, never sent through the command route (the pairing code must
#: come back to the request that asked for it, sealed).
OWN_ROUTE_VERBS = {"pair_handheld": "POST /api/dogs/{dog}/handheld/pair"}
#: Verbs sent even to a dog whose last status is offline: a stop is always tried (its link may
#: be back before its status says so), answered pending, then done or timeout. Any other verb to
#: such a dog is refused at once (`dog_offline`): sent, it would only time out (the operator
#: waiting WAIT_S for nothing) and expire unread (its signature's ttl).
SENT_WHEN_OFFLINE = frozenset({"estop"})
#: Routes without a dog in their path that filter their answer by the caller's dogs
#: (Accounts.visible_dogs): the only ones an officer may call without naming a dog.
FILTERED_ROUTES = frozenset({"_fleet", "_alarms"})
#: Routes served on the reserved connections and PRIORITY_THREADS (route_budget.PRIORITY).
PRIORITY_ROUTES = frozenset({"_command", "_voice"})


def health(status: str, last_seen: float | None, now: float) -> str:
    """What the viewer shows: "degraded" for a dog that says online but whose telemetry and
    events stopped (last_seen: telemetry, events or its status message), whatever its video
    does; else its status."""
    if status == "online" and (last_seen is None or now - last_seen > DEGRADED_AFTER_S):
        return "degraded"
    return status


def _error(status: int, message: str, code: str = "",
           headers: dict[str, str] | None = None) -> JSONResponse:
    code = code or HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse({"error": message, "code": code}, status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


_PRIORITY_PATHS = (re.compile(rf"^/api/dogs/{NAME}/commands/{VERB}$"),
                   re.compile(rf"^/api/dogs/{NAME}/audio/voice$"))


def _kind(scope: MutableMapping[str, Any]) -> str:
    """The route budget's kind of a request, from its path alone (before any route runs)."""
    path = scope.get("path", "")
    if scope["type"] == "websocket":
        return route_budget.SOCKET
    if path.endswith(".mjpeg"):
        return route_budget.STREAM
    if scope.get("method") == "POST" and any(p.match(path) for p in _PRIORITY_PATHS):
        return route_budget.PRIORITY
    return route_budget.OTHER   # reads, pages, logins (a password hash each), everything else


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
                                  f"{self.station.url}")
        kind = _kind(scope)
        if refusal is None:
            code = self.station.budget.take(kind)
            if code is not None:
                _LOGGER.info("http %s %s: %s", scope.get("method", "WS"), scope["path"][:200], code)
                refusal = _error(503, "too many video streams are open; close one or use the "
                                 ".jpg frame" if code == "too_many_streams" else
                                 "too many live pages are open" if code == "too_many_sockets"
                                 else "the station is busy; try again", code, {"Retry-After": "1"})
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
                 accounts: Accounts | None = None,
                 secure_cookies: bool = False, tls: tuple[Path, Path] | None = None,
                 allowed_hosts: tuple[str, ...] = (),
                 wall_clock: Callable[[], float] = time.time,
                 talk: TalkRelay | None = None,
                 evidence: tuple[ObjectStore, Callable[[str], bytes | None]] | None = None,
                 incidents: IncidentService | None = None, link_alarms: bool = True) -> None:
        """`accounts`: the station's people (default: the tables in `storage`'s database).
        `tls`: (certificate chain, private key), PEM files: serve HTTPS, and
        the session cookie is Secure. `secure_cookies`: TLS ends in front of the station (a
        proxy that serves the pages over HTTPS): the cookie is Secure on plain HTTP too.
        `evidence`: the object store of verified uploads, and dog -> its evidence public key
        (PEM). `incidents`: the station's incident service (default: one on `storage`'s
        database, dispatching through `dispatcher`). `link_alarms`: raise the station's own
        offline/online alarms (station/link_watch.py); off for a worker of a shared group."""
        self.storage, self.relay, self.talk, self.evidence = storage, relay, talk, evidence
        self.dispatcher = dispatcher
        self.accounts = accounts or Accounts(AccountTables(storage.target))
        self._own_accounts = accounts is None
        # Secure follows TLS: a browser then never sends the session over plain HTTP.
        self.tls = tls
        self.auth = WebAuth(self.accounts, secure_cookies=secure_cookies or tls is not None)
        self._wall = wall_clock
        self.live = LiveHub(relay)
        # The station's own offline/online alarms (station/link_watch.py): fed by ingest's
        # thread (row) and ticked on the loop, hence the lock.
        self.link_watch = LinkWatch() if link_alarms else None
        self._link_lock = threading.Lock()
        self.incidents = incidents or IncidentService(
            IncidentTables(storage.target), self.accounts, dispatcher=dispatcher, storage=storage)
        self._own_incidents = incidents is None
        self.incidents.status_of = self.last_status    # its dispatches refused to an offline dog
        self.incidents.add_listener(lambda incident, entries: self.live.push(
            incident_routes.live_message(incident, entries)))
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
        #: dog -> the status it last sent (online / offline), as ingest passed it on: read by
        #: every command without a database read (an e-stop never waits behind a read).
        self._statuses: dict[str, str] = {}
        self.priority_threads = anyio.CapacityLimiter(PRIORITY_THREADS)
        self.login_threads = anyio.CapacityLimiter(LOGIN_THREADS)
        if dispatcher is not None:
            dispatcher.add_listener(self._result_from_thread)
        self.app = build_app(self)
        # (path pattern, method, handler, action of the role table; None: no login needed)
        self.routes: list[tuple[re.Pattern[str], str, Callable[..., Any], str | None]] = [
            (route.path_regex, method, route.endpoint, ROUTE_ACTIONS[route.endpoint.__name__])
            for route in self.app.routes if isinstance(route, (APIRoute, APIWebSocketRoute))
            for method in sorted(getattr(route, "methods", None) or {"WS"})]
        http_protocol, ws_protocol, self.guard_counters = guarded(GuardLimits(
            REQUEST_TIMEOUT_S, WRITE_TIMEOUT_S, MAX_CONNECTIONS))
        config = uvicorn.Config(
            Gate(self.app, self), http=http_protocol, ws=ws_protocol, lifespan="off",
            log_config=None, access_log=False, server_header=False, date_header=True,
            # the peer is the client: X-Forwarded-For is the client's to write (uvicorn would
            # trust it from 127.0.0.1, i.e. from everyone here, and lockouts would follow it)
            proxy_headers=False,
            headers=[("Server", SERVER_NAME), ("X-Content-Type-Options", "nosniff")],
            limit_concurrency=MAX_CONNECTIONS + 1, timeout_keep_alive=KEEP_ALIVE_S,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES, ws_max_size=WS_MAX_MESSAGE_BYTES,
            ws_ping_interval=WS_PING_S, ws_ping_timeout=WS_PING_S, ws_per_message_deflate=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="station-http", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.live.attach(asyncio.get_running_loop())
        watching = asyncio.create_task(self._watch_links())
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            watching.cancel()

    async def _watch_links(self) -> None:
        """Every second: the dogs that fell silent raise their offline alarm."""
        while self.link_watch is not None:
            await asyncio.sleep(1.0)
            try:
                if self.link_watch is not None:
                    with self._link_lock:
                        events = self.link_watch.tick(self._wall())
                    self._raise(events)
            except Exception:  # the watch must outlive a bad moment of storage (logged)
                _LOGGER.exception("link watch failed; it goes on")

    def start(self) -> "StationHttp":
        self._thread.start()
        deadline = time.monotonic() + 30.0
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the station's web server did not start")
        _LOGGER.info("viewer on %s", self.url)
        return self

    @property
    def url(self) -> str:
        """The pages' address (https when this server holds the TLS certificate)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self._sock.close()
        if self._own_accounts:
            self.accounts.tables.close()
        if self._own_incidents:
            self.incidents.store.close()

    def row(self, row: Any) -> None:
        """A row ingest stored (any thread): pushed to the live pages; the link watch hears it."""
        if isinstance(row, StatusRow):
            self._statuses[row.dog] = row.status
        self.live.row(row)
        if self.link_watch is not None:
            with self._link_lock:
                events = self.link_watch.row(row)
            self._raise(events)

    def _raise(self, events: list[EventRow]) -> None:
        """The station's own alarms: stored and pushed like a dog's events (any thread)."""
        for event in events:
            self.storage.put(event)
            self.live.row(event)
            _LOGGER.warning("alarm: %s %s (%s)", event.dog, event.doc["type"], event.doc["message"])

    # --- commands (the HTTP route and the live page's messages) -----------------------------
    def send_command(self, who: Principal, dog: str, verb: str, args: Any, address: str) -> str:
        """Check `args` against the registry, sign and send as `who`; the nonce, or HttpError.
        Blocking (the audit log is written at once): run it on `priority_threads`. A revoked
        handheld's officer no longer acts on the dog from the moment it is sent."""
        if verb in OWN_ROUTE_VERBS:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{verb} is sent by its own route: "
                            f"{OWN_ROUTE_VERBS[verb]}", code="not_allowed")
        nonce = self._send(who, dog, verb, args, address)
        if verb == "revoke_handheld":
            self.accounts.unpaired(who, dog, address)
        return nonce

    def _send(self, who: Principal, dog: str, verb: str, args: Any, address: str) -> str:
        if self.dispatcher is None:
            raise HttpError(HTTPStatus.FORBIDDEN, "commands are disabled: no fleet directory")
        if not isinstance(args, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments")
        try:
            verbs.check(verb, args, verbs.STATION)   # refused here, before it is signed and sent
        except Refused as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, exc.detail, code=exc.code) from None
        self._refuse_if_offline(who, dog, verb, address)
        try:
            nonce = self.dispatcher.send(dog, verb, args, who.issuer)
        except DispatchError as exc:
            self.accounts.record("command", who.name, dog, address=address, ok=False, verb=verb,
                                 reason=str(exc)[:200], via=who.via)
            raise HttpError(HTTPStatus(exc.status), str(exc), code=getattr(exc, "code", "")) from None
        self.accounts.command_sent(who, dog, verb, nonce, address)
        return nonce

    def last_status(self, dog: str) -> str | None:
        """The status `dog` last sent (online / offline) since this station started; None if
        none came (a registered dog never heard from)."""
        return self._statuses.get(dog)

    def _refuse_if_offline(self, who: Principal, dog: str, verb: str, address: str) -> None:
        """HttpError `dog_offline` for a command to a dog whose last status is offline (its own
        last will or goodbye), audited and logged; the e-stop goes anyway, with a log line. A
        dog never heard from, or online but quiet (degraded), is sent to: it may answer."""
        if self.last_status(dog) != "offline":
            return
        if verb in SENT_WHEN_OFFLINE:
            _LOGGER.info("command %s -> %s by %s: sent although %s is offline (a stop is always "
                         "tried)", verb, dog, who.name, dog)
            return
        self.accounts.record("command", who.name, dog, address=address, ok=False, verb=verb,
                             reason="dog_offline", via=who.via)
        _LOGGER.info("command %s -> %s by %s refused: dog_offline", verb, dog, who.name)
        raise HttpError(HTTPStatus.CONFLICT, f"{dog} is offline: {verb} not sent (only the "
                        "e-stop is sent to an offline dog)", code="dog_offline")

    # --- handheld pairing codes (blocking: run on priority_threads) ---------------------------
    def open_pairing(self, who: Principal, dog: str, officer: object,
                     address: str) -> tuple[str, reply_seal.RequestKey, str]:
        """Ask the dog for a pairing code for `officer` (an account), sealed to a fresh key
        pair: (nonce to wait on, the key pair, the officer's name). Only the public half is
        sent; the pair lives only in this request."""
        name = self.accounts.officer_for_pairing(who, dog, officer)
        key = reply_seal.RequestKey()
        return self._send(who, dog, "pair_handheld", {"officer": name, "key": key.public},
                          address), key, name

    def pairing_opened(self, who: Principal, dog: str, officer: str,
                       key: reply_seal.RequestKey, result: dict[str, Any], address: str) -> str:
        """The code from the dog's signed answer (opened with the request's key); the officer
        now acts on the dog. HttpError with the dog's code if it refused."""
        if not result.get("ok"):
            raise HttpError(HTTPStatus.CONFLICT, f"{dog} opened no pairing code: "
                            f"{str(result.get('message', ''))[:200]}",
                            code=str(result.get("code") or "refused"))
        data = result.get("data")
        try:
            code = key.open(data.get("sealed_code") if isinstance(data, dict) else None, officer)
        except reply_seal.SealedReplyError as exc:
            raise HttpError(HTTPStatus.BAD_GATEWAY, f"{dog}'s answer: {exc.detail}",
                            code=exc.code) from None
        self.accounts.paired(who, dog, officer, address)
        return code

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

    def acknowledge(self, who: Principal, dog: str, event_id: str,
                    address: str) -> dict[str, Any]:
        """Store who acknowledged the alarm and when (any thread); every page is told."""
        row = AlarmAckRow(dog, event_id, who.name, self._wall())
        self.storage.put(row)
        self.live.row(row)
        self.accounts.record("alarm_ack", who.name, dog, address=address, event=event_id)
        _LOGGER.info("alarm %s/%s acknowledged by %s", dog, event_id, who.name)
        return {"dog": dog, "event_id": event_id, "acked_by": who.name, "acked_at": row.acked_at}

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

    def evidence_objects(self) -> tuple[ObjectStore, Callable[[str], bytes | None]]:
        if self.evidence is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "this station keeps no evidence")
        return self.evidence


def _finite(name: str, value: float, hi: float) -> float:
    if not math.isfinite(value):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a finite number")
    return min(max(value, 0.0), hi)


def build_app(station: StationHttp) -> FastAPI:
    app = FastAPI(title="Patrol station", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    auth = station.auth

    async def who(request: Request) -> Principal:
        """The caller, checked against the action its route names in ROUTE_ACTIONS (on a
        worker thread: the accounts read and write their tables)."""
        name = request.scope["route"].endpoint.__name__   # the APIRoute that matched
        action = ROUTE_ACTIONS[name]
        assert action is not None, name
        limiter = station.priority_threads if name in PRIORITY_ROUTES else None
        principal: Principal = await anyio.to_thread.run_sync(
            partial(auth.check, request, action, request.path_params.get("dog", ""),
                    filtered=name in FILTERED_ROUTES), limiter=limiter)
        return principal

    Who = Annotated[Principal, Depends(who)]
    DogName = Annotated[str, _path(NAME)]
    Limit = Annotated[float, Query(description="at most 1000")]

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        status = exc.status if isinstance(exc, HttpError) else HTTPStatus.BAD_REQUEST
        headers = exc.headers if isinstance(exc, HttpError) else None
        _LOGGER.info("http %s %s from %s -> %d %s", request.method, request.url.path[:200],
                     peer(request), status, exc)
        return _error(status, exc.detail, exc.code, headers)

    @app.exception_handler(AccountError)
    async def _account(request: Request, exc: AccountError) -> JSONResponse:
        return await _refused(request, HttpError.of(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = ("no such resource: " + request.url.path[:200] if exc.status_code == 404
                   else f"{request.method[:20]} {request.url.path[:200]}"
                   if exc.status_code == 405 else str(exc.detail))
        _LOGGER.info("http %s %s -> %d", request.method[:20], request.url.path[:200],
                     exc.status_code)
        return _error(exc.status_code, message, headers=dict(exc.headers or {}))

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

    web = resources.files("robot_dog.station").joinpath("web")
    pages = {path: web.joinpath(name).read_bytes() for path, name in PAGES.items()}

    def page(path: str) -> Response:
        return Response(pages[path], media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": PAGE_POLICY, "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    # --- public: the pages, the verb list, the login ----------------------------------------
    @app.get("/", include_in_schema=False)
    def _index() -> Response:
        return page("/")

    @app.get("/viewer", include_in_schema=False)
    def _viewer() -> Response:
        return page("/viewer")

    app.mount("/static", StaticFiles(directory=str(web)), name="static")
    app.mount("/shared", StaticFiles(directory=str(
        resources.files("robot_dog").joinpath("web_shared"))), name="shared")

    @app.get("/api/verbs")
    def _verbs() -> dict[str, Any]:
        """The verb registry as the station may use it (robot_dog/verbs.py): the pages build
        their command buttons from this answer."""
        return verbs.catalog(verbs.STATION)

    @app.post("/api/login", openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": {"type": "object", "properties": {"name": {"type": "string"},
                                                    "password": {"type": "string"}}}}}}})
    async def _login(request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object {name, "
                                "password}")
        except HttpError as exc:
            # Refused before a name was read (too large, not JSON, ...): still a failed login,
            # in the audit log as every other one (a flood of them is someone's attempt).
            await anyio.to_thread.run_sync(station.accounts.login_refused, peer(request),
                                           exc.code, limiter=station.login_threads)
            raise
        new = await anyio.to_thread.run_sync(
            station.accounts.login, body.get("name"), body.get("password"), peer(request),
            limiter=station.login_threads)
        return JSONResponse({"name": new.principal.name, "role": new.principal.role,
                             "csrf": new.csrf, "commands": station.dispatcher is not None},
                            headers={"Set-Cookie": auth.cookie(new.session_id, new.max_age_s),
                                     "Cache-Control": "no-store"})

    # --- who am I ----------------------------------------------------------------------------
    @app.get("/api/session")
    def _session(request: Request, me: Who) -> JSONResponse:
        body: dict[str, Any] = {"name": me.name, "role": me.role, "via": me.via,
                                "commands": station.dispatcher is not None}
        cookie = session_id(request.headers)
        if me.via == "session" and cookie:
            body["csrf"] = station.accounts.csrf(cookie)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/api/logout")
    def _logout(request: Request, me: Who) -> JSONResponse:
        station.accounts.logout(session_id(request.headers) or "", peer(request))
        return JSONResponse({"logged_out": True}, headers={
            "Set-Cookie": auth.cookie("", 0), "Cache-Control": "no-store"})

    @app.post("/api/logout-everywhere")
    def _logout_everywhere(request: Request, me: Who) -> JSONResponse:
        ended = station.accounts.logout_everywhere(me, address=peer(request))
        return JSONResponse({"logged_out": True, "sessions": ended}, headers={
            "Set-Cookie": auth.cookie("", 0), "Cache-Control": "no-store"})

    # --- the fleet ---------------------------------------------------------------------------
    @app.get("/api/fleet")
    def _fleet(me: Who) -> dict[str, Any]:
        visible = station.accounts.visible_dogs(me)
        return {"dogs": [d for d in station.fleet() if visible is None or d["dog"] in visible]}

    @app.get("/api/dogs/{dog}/telemetry")
    def _telemetry(dog: DogName, me: Who) -> Any:
        doc = station.storage.latest_telemetry(dog)
        if doc is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no telemetry from {dog}")
        return doc

    @app.get("/api/dogs/{dog}/events")
    def _events(dog: DogName, me: Who, limit: Limit = 100) -> dict[str, Any]:
        n = int(_finite("limit", limit, 1000))
        return {"dog": dog, "events": station.storage.events(dog, n)}

    @app.get("/api/dogs/{dog}/commands")
    def _audit(dog: DogName, me: Who, limit: Limit = 100) -> dict[str, Any]:
        n = int(_finite("limit", limit, 1000))
        return {"dog": dog, "commands": station.storage.commands(dog, n)}

    @app.post("/api/dogs/{dog}/commands/{verb}", responses={
        202: {"description": "sent; no answer within `wait`"}}, openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}})
    async def _command(dog: DogName, verb: Annotated[str, _path(VERB)], request: Request,
                       me: Who, wait: Annotated[float, Query(description="s, at most 10")] = 5.0
                       ) -> JSONResponse:
        args = await _json_body(request)
        wait_s = _finite("wait", wait, MAX_WAIT_S)
        nonce = await anyio.to_thread.run_sync(station.send_command, me, dog, verb, args,
                                               peer(request), limiter=station.priority_threads)
        result = await station.result(nonce, wait_s)
        if result is None:
            return JSONResponse({"nonce": nonce, "status": "sent"}, 202)
        return JSONResponse({"nonce": nonce, "status": "done", "result": result})

    @app.get("/api/alarms")
    def _alarms(me: Who, limit: Limit = 100,
                dog: Annotated[str | None, Query(pattern=NAME)] = None) -> dict[str, Any]:
        """Events of every dog (or `dog`), newest first, with who acknowledged each and when;
        `unacknowledged`: critical ones nobody acknowledged yet."""
        n = int(_finite("limit", limit, 1000))
        visible = station.accounts.visible_dogs(me)
        if visible is None:
            return {"alarms": station.storage.alarms(n, dog),
                    "unacknowledged": station.storage.unacknowledged()}
        alarms = [a for a in station.storage.alarms(n, dog) if a.get("dog") in visible]
        return {"alarms": alarms, "unacknowledged": sum(
            1 for a in alarms if a.get("severity") == "critical" and a.get("acked_by") is None)}

    @app.post("/api/dogs/{dog}/events/{event_id}/ack")
    def _acknowledge(dog: DogName, event_id: Annotated[str, _path(EVENT_ID)], request: Request,
                     me: Who) -> dict[str, Any]:
        """Acknowledge an alarm: who (the account) and when are stored; the first one counts."""
        return station.acknowledge(me, dog, event_id, peer(request))

    # --- talk --------------------------------------------------------------------------------
    def talk() -> TalkRelay:
        if station.talk is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "two-way talk is not enabled on this station")
        return station.talk

    @app.get("/api/dogs/{dog}/audio/mic", response_class=Response)
    def _mic(dog: DogName, me: Who, after: Annotated[int, Query(ge=-1, le=MAX_ID)] = -1) -> Response:
        """The dog's microphone (while a `listen` window is open) as s16le 48 kHz mono PCM
        after `after` (a sample cursor; -1 = from now on); the next cursor in X-Audio-Cursor."""
        cursor, pcm = talk().mic_since(dog, after)
        return Response(pcm, media_type="application/octet-stream", headers={
            "Cache-Control": "no-store", "X-Audio-Cursor": str(cursor),
            "X-Audio-Format": "s16le; rate=48000; channels=1"})

    @app.post("/api/dogs/{dog}/audio/voice", openapi_extra={"requestBody": {"content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def _voice(dog: DogName, request: Request, me: Who) -> dict[str, Any]:
        """Push-to-talk: s16le 48 kHz mono PCM (<= 1 s per request) -> Opus on the dog's
        cmd/voice. The dog plays it only inside a `talk` window opened by this account."""
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
            sent = await anyio.to_thread.run_sync(relay.send_voice, dog, pcm, me.issuer,
                                                  limiter=station.priority_threads)
        except TalkRefused as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc), code=exc.code) from None
        except NotConnected as exc:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, f"voice not sent: {exc}") from None
        return {"dog": dog, "packets": sent}

    # --- people: audit log and API tokens ----------------------------------------------------
    @app.get("/api/audit")
    def _audit_log(me: Who, limit: Limit = 100,
                   before: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
                   kind: str | None = None, actor: str | None = None,
                   target: str | None = None,
                   since: Annotated[float | None, Query(description="s since the epoch")] = None,
                   until: Annotated[float | None, Query(description="s since the epoch")] = None
                   ) -> dict[str, Any]:
        times = [_finite(n, v, MAX_ID) if v is not None else None
                 for n, v in (("since", since), ("until", until))]
        entries = station.accounts.audit_page(me, int(_finite("limit", limit, 1000)),
                                              before_id=before, kind=kind, actor=actor,
                                              target=target, since=times[0], until=times[1])
        return {"audit": entries, "before": entries[-1]["id"] if entries else None}

    # --- accounts (admins; the same Accounts calls as `robot-dog station user`) ------------
    def account_body(schema_props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": schema_props, "required": required}}}}}

    NAME_PROP = {"name": {"type": "string"}}

    async def fields(request: Request, *names: str, optional: tuple[str, ...] = ()
                     ) -> dict[str, str | None]:
        """The named text fields of a JSON body (None for a missing optional one)."""
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        out: dict[str, str | None] = {}
        for name in (*names, *optional):
            value = body.get(name)
            if value is None and name in optional:
                out[name] = None
            elif not isinstance(value, str):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be text")
            else:
                out[name] = value
        return out

    async def hashing(call: Callable[..., Any], *args: Any) -> Any:
        """A call that hashes a password: on the login threads (argon2 takes a core)."""
        return await anyio.to_thread.run_sync(call, *args, limiter=station.login_threads)

    @app.get("/api/accounts")
    def _accounts(me: Who) -> dict[str, Any]:
        return {"accounts": station.accounts.list_accounts(me)}

    @app.post("/api/accounts", openapi_extra=account_body(
        {**NAME_PROP, "role": {"type": "string"}, "password": {"type": "string"}},
        ["name", "role"]))
    async def _add_account(request: Request, me: Who) -> JSONResponse:
        got = await fields(request, "name", "role", optional=("password",))
        password = await hashing(station.accounts.add_account, me, got["name"], got["role"],
                                 got["password"])
        body = {"name": credentials.check_name(got["name"]), "role": got["role"]}
        if got["password"] is None:
            body["password"] = password    # one-time: this answer is the only place it is shown
        return JSONResponse(body, 201, headers={"Cache-Control": "no-store"})

    @app.post("/api/accounts/role", openapi_extra=account_body(
        {**NAME_PROP, "role": {"type": "string"}}, ["name", "role"]))
    async def _account_role(request: Request, me: Who) -> dict[str, Any]:
        got = await fields(request, "name", "role")
        await anyio.to_thread.run_sync(station.accounts.set_role, me, got["name"], got["role"])
        return {"name": got["name"], "role": got["role"]}

    @app.post("/api/accounts/password", openapi_extra=account_body(
        {**NAME_PROP, "password": {"type": "string"}}, ["name"]))
    async def _account_password(request: Request, me: Who) -> JSONResponse:
        got = await fields(request, "name", optional=("password",))
        password = await hashing(station.accounts.set_password, me, got["name"], got["password"])
        body: dict[str, Any] = {"name": got["name"], "sessions_ended": True}
        if got["password"] is None:
            body["password"] = password
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/api/accounts/disable", openapi_extra=account_body(NAME_PROP, ["name"]))
    async def _account_disable(request: Request, me: Who) -> dict[str, Any]:
        got = await fields(request, "name")
        await anyio.to_thread.run_sync(station.accounts.set_disabled, me, got["name"], True)
        return {"name": got["name"], "disabled": True}

    @app.post("/api/accounts/enable", openapi_extra=account_body(NAME_PROP, ["name"]))
    async def _account_enable(request: Request, me: Who) -> dict[str, Any]:
        got = await fields(request, "name")
        await anyio.to_thread.run_sync(station.accounts.set_disabled, me, got["name"], False)
        return {"name": got["name"], "disabled": False}

    @app.post("/api/accounts/logout-everywhere", openapi_extra=account_body(NAME_PROP, ["name"]))
    async def _account_logout(request: Request, me: Who) -> dict[str, Any]:
        got = await fields(request, "name")
        ended = await anyio.to_thread.run_sync(station.accounts.logout_everywhere, me,
                                               got["name"], peer(request))
        return {"name": got["name"], "sessions": ended}

    # --- handheld pairing codes --------------------------------------------------------------
    @app.get("/api/pairings")
    def _pairings(me: Who) -> dict[str, Any]:
        return {"pairings": station.accounts.pairings(me)}

    @app.post("/api/dogs/{dog}/handheld/pair", openapi_extra=account_body(
        {"officer": {"type": "string"}}, ["officer"]))
    async def _pair(dog: DogName, request: Request, me: Who) -> JSONResponse:
        """A one-time pairing code for the officer's phone, answered this once."""
        got = await fields(request, "officer")
        address = peer(request)
        nonce, key, officer = await anyio.to_thread.run_sync(
            station.open_pairing, me, dog, got["officer"], address,
            limiter=station.priority_threads)
        result = await station.result(nonce, MAX_WAIT_S)
        if result is None:
            raise HttpError(HTTPStatus.GATEWAY_TIMEOUT, f"{dog} did not answer within "
                            f"{MAX_WAIT_S:g} s: no pairing code", code="timeout")
        code = await anyio.to_thread.run_sync(station.pairing_opened, me, dog, officer, key,
                                              result, address)
        return JSONResponse({"dog": dog, "officer": officer, "pairing_code": code,
                             "nonce": nonce}, headers={"Cache-Control": "no-store"})

    @app.get("/api/tokens")
    def _tokens(me: Who, account: str | None = None) -> dict[str, Any]:
        return {"tokens": station.accounts.list_tokens(me, account)}

    @app.post("/api/tokens", openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": {"type": "object", "properties": {"label": {"type": "string"}}}}}}})
    async def _new_token(request: Request, me: Who) -> dict[str, Any]:
        body = await _json_body(request)
        label = body.get("label", "") if isinstance(body, dict) else ""
        if not isinstance(label, str):
            raise HttpError(HTTPStatus.BAD_REQUEST, "label must be text")
        new = await anyio.to_thread.run_sync(station.accounts.create_token, me, label)
        return {"id": new.token_id, "token": new.secret, "account": new.account,
                "label": new.label}

    @app.post("/api/tokens/{token_id}/revoke")
    def _revoke_token(token_id: Annotated[str, _path(TOKEN_ID)], me: Who) -> dict[str, Any]:
        station.accounts.revoke_token(me, token_id)
        return {"revoked": token_id}

    # --- evidence (logic in station/evidence.py; these only speak HTTP) ---------------------
    @app.get("/api/dogs/{dog}/evidence")
    def _evidence_list(dog: DogName, me: Who, since: str | None = None,
                       until: str | None = None) -> dict[str, Any]:
        station.evidence_objects()
        try:
            recordings = evidence_api.list_recordings(station.storage, dog, since, until)
        except evidence_api.EvidenceApiError as exc:
            raise HttpError(exc.status, str(exc), exc.headers) from None
        return {"dog": dog, "recordings": recordings}

    @app.get("/api/dogs/{dog}/evidence/{recording}/{file}", response_class=StreamingResponse)
    def _evidence_item(dog: DogName, recording: Annotated[str, _path(RECORDING)],
                       file: Annotated[str, _path(EVIDENCE_FILE)], request: Request,
                       me: Who) -> StreamingResponse:
        objects, _ = station.evidence_objects()
        try:
            item = evidence_api.open_item(station.storage, objects, dog, recording, file,
                                          request.headers.get("Range"))
        except evidence_api.EvidenceApiError as exc:
            raise HttpError(exc.status, str(exc), exc.headers) from None
        return StreamingResponse(item.body, item.status, headers=item.headers)

    @app.post("/api/dogs/{dog}/evidence/export", response_class=Response, openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "recordings": {"type": "array", "items": {"type": "string"}},
            "reason": {"type": "string"}}}}}}})
    async def _evidence_export(dog: DogName, request: Request, me: Who) -> Response:
        objects, key = station.evidence_objects()
        body = await _json_body(request)
        recordings, reason = (body.get("recordings"), body.get("reason", "")) \
            if isinstance(body, dict) else (None, None)
        if (not isinstance(recordings, list) or not all(isinstance(r, str) for r in recordings)
                or not isinstance(reason, str) or len(reason) > 200):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body: {recordings: [ids], reason: text}")
        pem = key(dog)
        if pem is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no evidence key for {dog}")

        def export() -> bytes:
            try:
                data = evidence_api.export_case(station.storage, objects, dog, recordings, pem,
                                                me.name, reason)
            except evidence_api.EvidenceApiError as exc:
                raise HttpError(exc.status, str(exc), exc.headers) from None
            _LOGGER.info("evidence export: %s exported %s of %s (%s)", me.name, recordings, dog,
                         reason)
            station.accounts.record("evidence_export", me.name, dog, address=peer(request),
                                    recordings=recordings, reason=reason)
            return data

        data = await anyio.to_thread.run_sync(export)
        return Response(data, media_type="application/x-tar", headers={
            "Content-Disposition": f'attachment; filename="{dog}-case.tar"',
            "Cache-Control": "no-store"})

    # --- video -------------------------------------------------------------------------------
    @app.get("/video/{dog}/{camera}.jpg", response_class=Response)
    def _jpeg(dog: DogName, camera: Annotated[str, _path(NAME)], me: Who) -> Response:
        _seq, frame = station.relay.latest(dog, camera)
        if frame is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no video from {dog}/{camera}")
        return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/video/{dog}/{camera}.mjpeg", response_class=StreamingResponse)
    async def _mjpeg(dog: DogName, camera: Annotated[str, _path(NAME)],
                     me: Who) -> StreamingResponse:
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
    async def _live(websocket: WebSocket) -> None:
        await serve_page(station, websocket)

    incident_routes.add_routes(app, lambda: station.incidents, Who, _path, _json_body)

    missing = [r.endpoint.__name__ for r in app.routes if isinstance(r, (APIRoute, APIWebSocketRoute))
               and r.endpoint.__name__ not in ROUTE_ACTIONS]
    if missing:
        raise RuntimeError(f"routes without an action in ROUTE_ACTIONS: {missing}")
    return app


def _path(pattern: str) -> Any:
    from fastapi import Path
    return Path(pattern=f"^{pattern.strip('^$')}$")


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
        raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes",
                        code="too_large")
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
