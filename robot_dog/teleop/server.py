"""The handheld's HTTPS + WebSocket server (asyncio, `websockets`), run in a thread of its own.

GET / serves the page; /ws is the WebSocket of protocol.py. The server only moves bytes: who may
connect is admission.py's (Host, Origin, connection caps, idle), frames go through `FrameGate`
and `Pairing`, the paired connection's `HandheldSession` says what to command, and `Dog` (the
ROS side, node.py) does it. One paired handheld at a time: a new pairing closes the previous
connection after commanding zero.

E-STOP first: a connection's frames are read by one task that never waits for the dog. Beats,
drive, stop, talk and audio are handled inline; an E-STOP goes to the dog at once on its own
executor thread and drops the requests still waiting; the other page requests (release, mode,
speed, light, siren, searchlight, record, resume, cancel) wait in the connection's own queue and
are called one at a time. A release already on its way when an E-STOP comes is followed by a
second engage once it answers, so an older release can never free a newer E-STOP.

A lost handheld (its connection closed without `leave`) voids the pairing: the page cannot come
back with its stored token; the officer pairs again with a new code and then releases.

Officers: a pairing code is issued to a named officer (pairing.py), and the connection that pairs
with it is that officer's. Every command from it is logged with the officer's name and reported
to the dog (`Dog.report`, which tells the station); the dog hears who is paired
(`Dog.officer_changed`: the name on pairing, "" when the pairing ends: lost, revoked, signed out)
for its bodycam's officer field. `revoke` (a lost phone, from the dog or the station) and the
page's `unpair` (the officer signs out) end the pairing at once.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import asyncio
import json
import logging
import resource
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from robot_dog.log_rate import worth_a_line
from robot_dog.teleop import admission
from robot_dog.teleop.errors import HandheldRefused
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.protocol import MAX_AUDIO_BYTES, OPEN, FrameGate, Request as Frame
from robot_dog.teleop.session import HandheldSession

_LOGGER = logging.getLogger(__name__)
WEB = Path(__file__).with_name("web")
SHARED_WEB = Path(__file__).parents[1] / "web_shared"   # modules the station console uses too
#: What GET serves: the page and its static script, styles and message catalogue (no inline
#: script, so the CSP allows scripts from this origin only), and the shared audio capture module.
STATIC = {"/": (WEB / "handheld.html", "text/html; charset=utf-8"),
          "/handheld.css": (WEB / "handheld.css", "text/css; charset=utf-8"),
          "/handheld.js": (WEB / "handheld.js", "text/javascript; charset=utf-8"),
          "/messages.js": (WEB / "messages.js", "text/javascript; charset=utf-8"),
          "/icon.svg": (WEB / "icon.svg", "image/svg+xml"),
          "/shared/audio_capture.js": (SHARED_WEB / "audio_capture.js", "text/javascript; charset=utf-8"),
          "/shared/pcm16_worklet.js": (SHARED_WEB / "pcm16_worklet.js", "text/javascript; charset=utf-8")}
ENDPOINT = "handheld"          # the handheld's name as an e-stop endpoint
CHECK_IN_S = 0.15              # check-in period while live, s (deadline below: 3 missed)
ESTOP_TIMEOUT_S = 0.5          # the handheld's e-stop deadline, s
STATE_S = 0.2                  # state and video to the page, s
MAX_WAITING = 8                # page requests waiting per connection; more are refused
SERVER_NAME = "robot-dog-handheld"   # the Server header: no versions
FAST = ("drive", "stop", "talk", "audio", "leave")   # handled inline, never wait for the dog
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'none'"),
    ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer")]
HTTP_STATUS = {"bad_host": (403, "Forbidden"), "bad_origin": (403, "Forbidden"),
               "client_connection_cap": (503, "Service Unavailable"),
               "connection_cap": (503, "Service Unavailable")}


class Dog(Protocol):
    """What the handheld may do on the dog (node.py implements it on ROS). `officer`: the paired
    officer's name, carried by every command into the dog's logs and events."""
    def drive(self, vx: float, wz: float) -> None: ...
    def check_in(self, timeout_s: float) -> None: ...
    def call(self, kind: str, args: dict[str, Any], officer: str) -> tuple[str, str]: ...   # (code, words)
    def report(self, kind: str, code: str, officer: str) -> None: ...   # a handheld action, for the station
    def officer_changed(self, officer: str) -> None: ...   # "" once no officer is paired
    def task_answer(self, officer: str, incident: str, state: str) -> tuple[str, str]: ...
    def state(self) -> dict[str, Any]: ...
    def frame(self) -> tuple[int, bytes | None]: ...
    def caps(self) -> tuple[float, float]: ...
    def voice(self, pcm: bytes) -> None: ...


class HandheldServerError(RobotDogError):
    """The server cannot serve (address taken or not on this machine, plain HTTP off loopback,
    unreadable certificate): one line for the operator, no traceback."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8443
    cert_file: Path | None = None
    key_file: Path | None = None
    max_connections: int = 32      # WebSockets in all (at the cap the oldest unpaired one goes)
    per_client: int = 4            # WebSockets per client address
    idle_s: float = 15.0           # an unpaired WebSocket with no frame this long is closed, s
    open_timeout_s: float = 5.0    # TLS and HTTP handshake, s
    ping_interval_s: float = 5.0   # WebSocket ping; no pong within ping_timeout_s closes, s
    ping_timeout_s: float = 10.0


class RefusalLog:
    """One log line per kind of refusal, at the 1st, 10th, 100th... (robot_dog/log_rate.py):
    a flood leaves a handful of lines with its count. Kinds are bounded (64)."""

    def __init__(self, logger: logging.Logger = _LOGGER) -> None:
        self.logger, self.counts = logger, {}

    def note(self, kind: str, text: str, level: int = logging.WARNING) -> None:
        if kind not in self.counts and len(self.counts) >= 64:
            self.counts.clear()
        count = self.counts[kind] = self.counts.get(kind, 0) + 1
        if worth_a_line(count):
            self.logger.log(level, "%s: %s%s", kind, text, f" ({count} times)" if count > 1 else "")


@dataclass(eq=False)
class _Link:
    """One WebSocket: its frame gate, token, waiting requests and the tasks serving it."""
    ws: ServerConnection
    client: str
    gate: FrameGate = field(default_factory=FrameGate)
    token: str | None = None
    officer: str = ""                  # the officer this connection paired as
    waiting: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(MAX_WAITING))
    in_progress: str | None = None     # the page request being called now
    estop_during: bool = False         # an E-STOP came while that request was on its way
    tasks: set = field(default_factory=set)

    async def send(self, doc: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(doc))
        except ConnectionClosed:
            pass

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class HandheldServer:
    def __init__(self, config: ServerConfig, dog: Dog, pairing: Pairing,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.dog, self.pairing, self.clock = config, dog, pairing, clock
        self.session: HandheldSession | None = None
        self._active: _Link | None = None
        self._table = admission.ConnectionTable(config.max_connections, config.per_client, config.idle_s)
        self._refusals = RefusalLog()
        self._names: frozenset[str] = frozenset()
        self._scheme = "https" if config.cert_file else "http"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._run, name="handheld-server", daemon=True)
        # E-STOPs on a thread of their own: no page request can hold them up.
        self._estop_calls = ThreadPoolExecutor(1, thread_name_prefix="handheld-estop")
        self._calls = ThreadPoolExecutor(2, thread_name_prefix="handheld-call")
        self._engage_lock: asyncio.Lock | None = None
        self._background: set[asyncio.Task] = set()
        self.port = config.port
        self._static = {path: (file.read_bytes(), kind) for path, (file, kind) in STATIC.items()}

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "HandheldServer":
        """Serve, or HandheldServerError at once (never a traceback, never a wait)."""
        where = f"{self.config.host}:{self.config.port}"
        if self.config.cert_file is None:
            if not admission.is_loopback(self.config.host):
                raise HandheldServerError(
                    f"cannot serve the handheld page on {where}: plain HTTP only on 127.0.0.1; "
                    "give cert_file and key_file (robot-dog teleop cert)")
            _LOGGER.warning("handheld page over plain HTTP on %s: this machine only; "
                            "use a certificate (cert_file, key_file) for a phone", where)
        self._thread.start()
        if not self._ready.wait(20):
            raise HandheldServerError(f"cannot serve the handheld page on {where}: not started in 20 s")
        if self._failed is not None:
            exc = self._failed
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            filename = getattr(exc, "filename", None)
            raise HandheldServerError(f"cannot serve the handheld page on {where}: {reason}"
                                      + (f" ({filename})" if filename else ""))
        return self

    def close(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self._thread.join(10)
        self._estop_calls.shutdown(wait=False, cancel_futures=True)
        self._calls.shutdown(wait=False, cancel_futures=True)

    def new_code(self, officer: str) -> str:
        """A one-time code for `officer`, or HandheldRefused(`bad_officer`)."""
        return self.pairing.new_code(self.clock(), officer)

    def revoke(self, why: str) -> str:
        """Void the pairing now (any thread: a ROS service, the station's `revoke_handheld`): the
        token no longer resumes, the paired connection is closed (4004) after a zero, and no
        officer is paired. Returns what was done, in words."""
        officer, paired = self.pairing.officer, self.pairing.paired
        self.pairing.revoke()
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_pairing, why, 4004, "pairing revoked")
        if not paired:
            return "no handheld was paired"
        _LOGGER.warning("handheld of officer %s revoked (%s): its token no longer resumes",
                        officer, why)
        return f"the handheld of officer {officer} is revoked"

    def _end_pairing(self, why: str, close_code: int, close_reason: str, leave: bool = False) -> None:
        """On the loop: the pairing is void; zero, close the paired connection, no officer. A
        sign-out (`leave`) leaves the e-stop watch cleanly; a revoked phone stops checking in,
        so its deadline holds the dog as for a lost one, until someone releases."""
        link, self._active = self._active, None
        if link is not None:
            self._stop_driving(why)
            if leave:
                self.dog.check_in(0.0)
            self._soon(link.ws.close(close_code, close_reason))
        self.dog.officer_changed("")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._loop_error)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 (reported by start(): one line)
            if self._ready.is_set():
                _LOGGER.error("handheld server stopped: %s: %s", type(exc).__name__, exc)
            self._failed = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        ctx = None
        if self.config.cert_file:
            from robot_dog.teleop.certs import page_names
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
            self._names = admission.served_names(self.config.host, page_names(self.config.cert_file))
        else:
            self._names = admission.served_names(self.config.host)
        _raise_open_files_limit()
        self._engage_lock = asyncio.Lock()
        self._stop = self._loop.create_future()
        quiet = logging.getLogger(f"{__name__}.websockets")   # per-connection chatter: refusals
        quiet.setLevel(logging.ERROR)                          # are counted by RefusalLog instead
        cfg = self.config
        async with serve(self._connection, cfg.host, cfg.port, ssl=ctx, process_request=self._http,
                         process_response=self._http_done, server_header=SERVER_NAME,
                         max_size=MAX_AUDIO_BYTES + 1024, compression=None, logger=quiet,
                         open_timeout=cfg.open_timeout_s, ping_interval=cfg.ping_interval_s,
                         ping_timeout=cfg.ping_timeout_s, close_timeout=2.0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            watch = asyncio.create_task(self._watch())
            await self._stop
            watch.cancel()
        self._stop_driving("server stopping")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own errors (e.g. accept() out of file descriptors): one line per kind, no
        traceback per connection."""
        exc = context.get("exception")
        kind = f"server error ({context.get('message', 'error')}{f': {type(exc).__name__}' if exc else ''})"
        self._refusals.note(kind, str(exc) if exc else "", logging.ERROR)

    # ---- HTTP ---------------------------------------------------------------------------------
    def _http(self, ws: ServerConnection, request: Request) -> Response | None:
        client = _client(ws)
        try:
            hosts = request.headers.get_all("Host")
            host = hosts[0] if len(hosts) == 1 else None
            admission.check_host(host, self._names, self.port)
            if request.path == "/ws":
                origins = request.headers.get_all("Origin")
                admission.check_origin(origins[0] if len(origins) == 1 else None, host, self._scheme)
                evict = self._table.admit(ws, client, self.clock())
                if evict is not None:
                    self._refusals.note("closed (connection_cap)",
                                        f"{_client(evict)}: closed to make room for a new connection")
                    self._soon(evict.close(4003, "too many connections"))
                return None  # the WebSocket handshake goes on
        except HandheldRefused as exc:
            self._refusals.note(f"refused ({exc.code})", f"{client}: {exc.reason}")
            status, phrase = HTTP_STATUS.get(exc.code, (400, "Bad Request"))
            return _text(status, phrase, f"{exc.code}: {exc.reason}\n")
        static = self._static.get("/" if request.path == "/index.html" else request.path)
        if static is not None:
            body, kind = static
            return Response(200, "OK", Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                                                *SECURITY_HEADERS]), body)
        return _text(404, "Not Found", "not found\n")

    def _http_done(self, ws: ServerConnection, request: Request, response: Response) -> None:
        if response.status_code != 101:
            self._table.close(ws)   # admitted, then the upgrade itself failed
            if request.path == "/ws" and response.status_code not in (403, 503):
                self._refusals.note("refused (bad_handshake)", f"{_client(ws)}: WebSocket handshake "
                                    f"refused ({response.status_code})")

    # ---- the handheld ------------------------------------------------------------------------
    async def _connection(self, ws: ServerConnection) -> None:
        link = _Link(ws, _client(ws))
        link.spawn(self._requests(link))
        try:
            async for data in ws:
                now = self.clock()
                self._table.heard(ws, now)
                try:
                    await self._dispatch(link, link.gate.check(data, now), now)
                except HandheldRefused as exc:
                    self._refusals.note(f"refused ({exc.code})", f"handheld {link.client}: {exc.reason}")
                    await link.send({"t": "refused", "code": exc.code, "reason": exc.reason})
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 (one line per kind, never a traceback per connection)
            self._refusals.note(f"server error ({type(exc).__name__})", f"handheld {link.client}: {exc}",
                                logging.ERROR)
        finally:
            for task in list(link.tasks):
                task.cancel()
            self._table.close(ws)
            if link is self._active:
                self._lost(link)

    def _lost(self, link: _Link) -> None:
        """The paired connection closed: zero; without a clean `leave` the pairing is void."""
        self._active = None
        left = self.session is not None and self.session.left
        self._stop_driving(f"handheld {link.client} disconnected")
        if not left:
            self.pairing.revoke()
            self.dog.officer_changed("")
            _LOGGER.warning("handheld %s of officer %s lost without leaving: the pairing is void, "
                            "the e-stop holds until the officer pairs again with a new code and "
                            "releases", link.client, link.officer)

    async def _dispatch(self, link: _Link, req: Frame, now: float) -> None:
        if req.kind in ("pair", "hello"):
            await self._admit(link, req, now)
            return
        if req.kind == "beat":   # also before pairing: keeps a page that is typing its code open
            if link is self._active and self.session is not None:
                self.session.heard(now)
            await link.send({"t": "beat", "seq": req.seq})
            return
        if link.token is None:
            raise HandheldRefused("pair_first", f"pair first (only {', '.join(OPEN)} before pairing)")
        self.pairing.check(link.token)
        if link is not self._active:
            raise HandheldRefused("not_paired", "not the paired handheld")
        session = self.session
        assert session is not None
        if req.kind == "estop":
            session.heard(now)
            self._estop(link)
        elif req.kind == "task":
            session.heard(now)
            code, message = self.dog.task_answer(link.officer, req.args["incident"], req.args["state"])
            _LOGGER.info("handheld task %s %s by officer %s: %s %s", req.args["incident"],
                         req.args["state"], link.officer, code, message)
            await link.send(_result("task", code, message))
        elif req.kind == "unpair":
            self.dog.drive(*session.stop(now))
            session.left = True
            _LOGGER.info("handheld %s: officer %s signed out", link.client, link.officer)
            self.dog.report("unpair", "ok", link.officer)
            await link.send(_result("unpair", "ok", "signed out"))
            self.pairing.revoke()
            self._end_pairing(f"officer {link.officer} signed out", 4005, "signed out", leave=True)
        elif req.kind in FAST:
            self._fast(link, session, req, now)
        else:
            session.heard(now)
            try:
                link.waiting.put_nowait(req)
            except asyncio.QueueFull:
                raise HandheldRefused("busy", f"{MAX_WAITING} requests are already waiting") from None

    def _fast(self, link: _Link, session: HandheldSession, req: Frame, now: float) -> None:
        if req.kind == "drive":
            session.linear_cap, session.angular_cap = self.dog.caps()
            was_driving = session.driving
            self.dog.drive(*session.drive(req.args["x"], req.args["z"], now))
            if session.driving and not was_driving:   # one line per push of the stick, not per frame
                _LOGGER.info("handheld drive by officer %s", link.officer)
                self.dog.report("drive", "ok", link.officer)
        elif req.kind == "stop":
            self.dog.drive(*session.stop(now))
        elif req.kind == "talk":
            session.heard(now)
            session.talking = req.args["on"]
            _LOGGER.info("handheld push-to-talk %s by officer %s", "on" if session.talking else "off",
                         link.officer)
            self.dog.report("talk_on" if session.talking else "talk_off", "ok", link.officer)
        elif req.kind == "audio":
            if not session.talking:
                raise HandheldRefused("not_talking", "audio outside push-to-talk (send talk on first)")
            self.dog.voice(req.args["pcm"])
        elif req.kind == "leave":
            self.dog.drive(*session.stop(now))
            session.left = True
            self.dog.check_in(0.0)   # leaves the e-stop watch cleanly

    async def _admit(self, link: _Link, req: Frame, now: float) -> None:
        if req.kind == "pair":
            token = self.pairing.pair(req.args["code"], link.client, now)
        else:
            token = req.args["token"]
            self.pairing.check(token)
        previous = self._active
        if previous is not None and previous is not link:
            self._active = None   # replaced, not lost: the new pairing stands
            self._stop_driving("replaced by a newly paired handheld")
            await previous.ws.close(4001, "replaced by a newly paired handheld")
        self._active, link.token, link.officer = link, token, self.pairing.officer
        self._table.paired(link.ws)
        self.session = HandheldSession()
        self.session.linear_cap, self.session.angular_cap = self.dog.caps()
        self.session.heard(now)
        _LOGGER.info("handheld %s %s: officer %s", link.client,
                     "paired" if req.kind == "pair" else "resumed", link.officer)
        self.dog.officer_changed(link.officer)
        self.dog.report("paired" if req.kind == "pair" else "resumed", "ok", link.officer)
        await link.send({"t": "paired", "token": token})
        link.spawn(self._send_state(link))

    # ---- the dog's answers: E-STOP first, then the queue ---------------------------------------
    def _estop(self, link: _Link) -> None:
        while not link.waiting.empty():
            dropped = link.waiting.get_nowait()
            link.spawn(link.send(_result(dropped.kind, "dropped_by_estop",
                                         "dropped: an E-STOP came after it")))
        if link.in_progress is not None:
            link.estop_during = True
        self._engage_soon(link)

    def _engage_soon(self, link: _Link) -> None:
        # The server's task, not the connection's: a page that closes right after its E-STOP
        # must not cancel the engage.
        self._soon(self._engage(link))

    def _soon(self, coro) -> None:
        """Run `coro` as a task of the server's, kept referenced until it is done."""
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _engage(self, link: _Link) -> None:
        assert self._engage_lock is not None
        async with self._engage_lock:   # engages reach the dog one at a time, in order
            code, message = await self._call(self._estop_calls, "estop", {}, link.officer)
        self.dog.report("estop", code, link.officer)
        await link.send(_result("estop", code, message))

    async def _call(self, executor: ThreadPoolExecutor, kind: str, args: dict[str, Any],
                    officer: str) -> tuple[str, str]:
        """The dog's answer to a page request; a failing call is a refusal, never a dead task."""
        try:
            return await self._loop.run_in_executor(executor, self.dog.call, kind, args, officer)
        except Exception as exc:  # noqa: BLE001 (the page hears why; one log line per kind)
            self._refusals.note(f"server error ({type(exc).__name__})", f"{kind}: {exc}", logging.ERROR)
            return "failed", f"{kind} failed on the dog ({type(exc).__name__})"

    async def _requests(self, link: _Link) -> None:
        """The connection's page requests, one at a time; an E-STOP never waits for them."""
        while True:
            req = await link.waiting.get()
            if link is not self._active:
                continue
            link.in_progress, link.estop_during = req.kind, False
            try:
                code, message = await self._call(self._calls, req.kind, req.args, link.officer)
            finally:
                link.in_progress = None
            self.dog.report(req.kind, code, link.officer)
            await link.send(_result(req.kind, code, message))
            if req.kind == "release" and link.estop_during:
                _LOGGER.warning("handheld E-STOP came while a release was on its way: engaged again")
                self._engage_soon(link)

    def _stop_driving(self, why: str) -> None:
        if self.session is not None and self.session.driving:
            _LOGGER.warning("%s while driving: zero velocity", why)
        if self.session is not None:
            self.session.driving = self.session.talking = False
        self.dog.drive(0.0, 0.0)

    async def _watch(self) -> None:
        """Heartbeat lapse -> zero; check in as the handheld e-stop endpoint while live; close
        idle unpaired connections."""
        next_check_in = next_sweep = 0.0
        while True:
            now = self.clock()
            session = self.session
            if session is not None and session.lost(now):
                _LOGGER.warning("handheld heartbeat lost: zero velocity, e-stop check-ins stop")
                self._stop_driving("heartbeat lost")
            if session is not None and self._active is not None and session.live(now) \
                    and now >= next_check_in:
                next_check_in = now + CHECK_IN_S
                self._loop.run_in_executor(None, self.dog.check_in, ESTOP_TIMEOUT_S)
            if now >= next_sweep:
                next_sweep = now + 0.5
                for ws in self._table.idle(now):
                    self._table.close(ws)
                    self._refusals.note("closed (idle)", f"{_client(ws)}: no frame for "
                                                f"{self.config.idle_s:g} s: closed", logging.INFO)
                    self._soon(ws.close(4002, "idle"))
            await asyncio.sleep(0.02)

    async def _send_state(self, link: _Link) -> None:
        sent_frame = -1
        try:
            while link is self._active:
                talking = self.session is not None and self.session.talking
                await link.ws.send(json.dumps({"t": "state", **self.dog.state(), "talk": talking}))
                number, jpeg = self.dog.frame()
                if jpeg is not None and number != sent_frame:
                    sent_frame = number
                    await link.ws.send(jpeg)
                await asyncio.sleep(STATE_S)
        except ConnectionClosed:
            pass


def _client(ws: ServerConnection) -> str:
    """The client's network address (the unit of per-client limits)."""
    try:
        address = ws.remote_address
    except Exception:  # noqa: BLE001 (transport already gone)
        address = None
    return str(address[0]) if address else "?"


def _text(status: int, phrase: str, body: str) -> Response:
    data = body.encode()
    return Response(status, phrase, Headers([("Content-Type", "text/plain; charset=utf-8"),
                                             ("Content-Length", str(len(data))),
                                             *SECURITY_HEADERS]), data)


def _raise_open_files_limit() -> None:
    """Soft limit of open files up to the hard one: a connection flood meets the caps above long
    before the process runs out of descriptors (asyncio then stops accepting for 1 s each time)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


def _result(kind: str, code: str, message: str) -> dict[str, Any]:
    """A page request's answer: `code` is "ok" or a stable refusal code (docs/errors.md), the
    page acts on it; `message` is for the officer to read."""
    return {"t": "result", "kind": kind, "ok": code == "ok", "code": code, "message": message}
