"""The handheld's HTTPS + WebSocket server (asyncio, `websockets`), run in a thread of its own.

GET / serves the page; /ws is the WebSocket of protocol.py. The server only moves bytes: frames
go through `FrameGate` and `Pairing`, the paired connection's `HandheldSession` says what to
command, and `Dog` (the ROS side, node.py) does it. One paired handheld at a time: a new pairing
closes the previous connection after commanding zero.
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from robot_dog.log_rate import worth_a_line
from robot_dog.safety.errors import Refused
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.protocol import MAX_AUDIO_BYTES, FrameGate, Request as Frame
from robot_dog.teleop.session import HandheldSession

_LOGGER = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("web") / "handheld.html"
ENDPOINT = "handheld"          # the handheld's name as an e-stop endpoint
CHECK_IN_S = 0.15              # check-in period while live, s (deadline below: 3 missed)
ESTOP_TIMEOUT_S = 0.5          # the handheld's e-stop deadline, s
STATE_S = 0.2                  # state and video to the page, s
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; "
                                "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer")]


class Dog(Protocol):
    """What the handheld may do on the dog (node.py implements it on ROS)."""
    def drive(self, vx: float, wz: float) -> None: ...
    def check_in(self, timeout_s: float) -> None: ...
    def call(self, kind: str, args: dict[str, Any]) -> tuple[bool, str]: ...
    def state(self) -> dict[str, Any]: ...
    def frame(self) -> tuple[int, bytes | None]: ...
    def caps(self) -> tuple[float, float]: ...
    def voice(self, pcm: bytes) -> None: ...


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8443
    cert_file: Path | None = None
    key_file: Path | None = None


class HandheldServer:
    def __init__(self, config: ServerConfig, dog: Dog, pairing: Pairing,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.dog, self.pairing, self.clock = config, dog, pairing, clock
        self.session: HandheldSession | None = None
        self._active: ServerConnection | None = None
        self._token: str | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._run, name="handheld-server", daemon=True)
        self.port = config.port
        self._page = PAGE.read_bytes()

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "HandheldServer":
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("handheld server did not start")
        return self

    def close(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def new_code(self) -> str:
        return self.pairing.new_code(self.clock())

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        ctx = None
        if self.config.cert_file:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
        self._stop = self._loop.create_future()
        async with serve(self._connection, self.config.host, self.config.port, ssl=ctx,
                         process_request=self._http, max_size=MAX_AUDIO_BYTES + 1024, compression=None,
                         ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            watch = asyncio.create_task(self._watch())
            await self._stop
            watch.cancel()
        self._stop_driving("server stopping")

    # ---- HTTP ---------------------------------------------------------------------------------
    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/ws":
            return None  # the WebSocket handshake goes on
        if request.path in ("/", "/index.html"):
            return Response(200, "OK", Headers([("Content-Type", "text/html; charset=utf-8"),
                                                ("Content-Length", str(len(self._page))),
                                                *SECURITY_HEADERS]), self._page)
        body = b"not found\n"
        return Response(404, "Not Found", Headers([("Content-Type", "text/plain"),
                                                  ("Content-Length", str(len(body)))]), body)

    # ---- the handheld ------------------------------------------------------------------------
    async def _connection(self, ws: ServerConnection) -> None:
        gate, token = FrameGate(), None
        peer = ws.remote_address
        repeats: dict[str, int] = {}   # refusals by reason: a stream of refused frames logs a
                                       # line at the 1st, 10th, 100th... (the client hears each)
        sender = asyncio.create_task(self._send_state(ws))
        try:
            async for data in ws:
                now = self.clock()
                try:
                    req = gate.check(data, now)
                    if req.kind in ("pair", "hello"):
                        token = await self._admit(ws, req, now)
                        continue
                    if token is None:
                        raise Refused("pair first")
                    self.pairing.check(token)
                    if ws is not self._active:
                        raise Refused("not the paired handheld")
                    await self._handle(ws, req, now)
                except Refused as exc:
                    if exc.reason not in repeats and len(repeats) >= 64:
                        repeats.clear()   # bounded: reasons can carry the offending value
                    count = repeats[exc.reason] = repeats.get(exc.reason, 0) + 1
                    if worth_a_line(count):
                        _LOGGER.warning("handheld %s: refused: %s%s", peer, exc.reason,
                                        f" ({count} times)" if count > 1 else "")
                    await ws.send(json.dumps({"t": "refused", "reason": exc.reason}))
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            if ws is self._active:
                self._active = None
                self._stop_driving(f"handheld {peer} disconnected")

    async def _admit(self, ws: ServerConnection, req: Frame, now: float) -> str:
        if req.kind == "pair":
            token = self.pairing.pair(req.args["code"], now)
        else:
            token = req.args["token"]
            self.pairing.check(token)
        previous = self._active
        if previous is not None and previous is not ws:
            self._stop_driving("replaced by a newly paired handheld")
            await previous.close(4001, "replaced by a newly paired handheld")
        self._active, self._token = ws, token
        self.session = HandheldSession()
        self.session.linear_cap, self.session.angular_cap = self.dog.caps()
        self.session.heard(now)
        _LOGGER.info("handheld %s %s", ws.remote_address, "paired" if req.kind == "pair" else "resumed")
        await ws.send(json.dumps({"t": "paired", "token": token}))
        return token

    async def _handle(self, ws: ServerConnection, req: Frame, now: float) -> None:
        session = self.session
        assert session is not None
        if req.kind == "drive":
            session.linear_cap, session.angular_cap = self.dog.caps()
            self.dog.drive(*session.drive(req.args["x"], req.args["z"], now))
        elif req.kind == "stop":
            self.dog.drive(*session.stop(now))
        elif req.kind == "talk":
            session.heard(now)
            session.talking = req.args["on"]
            _LOGGER.info("handheld push-to-talk %s", "on" if session.talking else "off")
        elif req.kind == "audio":
            if not session.talking:
                raise Refused("audio outside push-to-talk (send talk on first)")
            self.dog.voice(req.args["pcm"])
        elif req.kind == "beat":
            session.heard(now)
            await ws.send(json.dumps({"t": "beat", "seq": req.seq}))
        elif req.kind == "leave":
            self.dog.drive(*session.stop(now))
            session.left = True
            self.dog.check_in(0.0)   # leaves the e-stop watch cleanly
        else:
            session.heard(now)
            ok, message = await asyncio.get_running_loop().run_in_executor(
                None, self.dog.call, req.kind, req.args)
            await ws.send(json.dumps({"t": "result", "kind": req.kind, "ok": ok, "message": message}))

    def _stop_driving(self, why: str) -> None:
        if self.session is not None and self.session.driving:
            _LOGGER.warning("%s while driving: zero velocity", why)
        if self.session is not None:
            self.session.driving = self.session.talking = False
        self.dog.drive(0.0, 0.0)

    async def _watch(self) -> None:
        """Heartbeat lapse -> zero; check in as the handheld e-stop endpoint while live."""
        next_check_in = 0.0
        while True:
            now = self.clock()
            session = self.session
            if session is not None and session.lost(now):
                _LOGGER.warning("handheld heartbeat lost: zero velocity, e-stop check-ins stop")
                self._stop_driving("heartbeat lost")
            if session is not None and session.live(now) and now >= next_check_in:
                next_check_in = now + CHECK_IN_S
                asyncio.get_running_loop().run_in_executor(None, self.dog.check_in, ESTOP_TIMEOUT_S)
            await asyncio.sleep(0.02)

    async def _send_state(self, ws: ServerConnection) -> None:
        sent_frame = -1
        try:
            while True:
                await asyncio.sleep(STATE_S)
                if ws is not self._active:
                    continue
                await ws.send(json.dumps({"t": "state", **self.dog.state()}))
                number, jpeg = self.dog.frame()
                if jpeg is not None and number != sent_frame:
                    sent_frame = number
                    await ws.send(jpeg)
        except ConnectionClosed:
            pass
