"""The station's HTTP server on 127.0.0.1: viewer page, JSON API and MJPEG video relay.

Routes:
  GET /                                the viewer page
  GET /api/fleet                       dogs with status, last seen, counts
  GET /api/dogs/{dog}/telemetry        latest telemetry document
  GET /api/dogs/{dog}/events           recent events, newest first (?limit=N, <= 1000)
  GET /api/dogs/{dog}/commands         audit log: who sent what when, and the dog's result
  GET /api/operator                    the viewer's login check: same headers as a command;
                                       200 {"operator": name}, 401 wrong token, 403 disabled
  POST /api/dogs/{dog}/commands/{verb} JSON object = args; `Authorization: Bearer <operator
                                       token>`; optional `X-Operator: name` (audit `issuer`);
                                       waits up to ?wait=S (default 5, <= 10) for the result:
                                       200 with it, or 202 with the nonce if none came yet
  GET /video/{dog}/{camera}.jpg        newest frame
  GET /video/{dog}/{camera}.mjpeg      live multipart stream (newest frame wins)
Anything else gets a JSON error with a status code and a log line; a handler error never
takes the server down.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable

from robot_dog import fleet as fleet_mod
from robot_dog.station.dispatch import DispatchError, Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage

_LOGGER = logging.getLogger(__name__)
NAME = r"[a-z0-9_-]{1,32}"
BOUNDARY = "robotdogframe"
VERB = r"[a-z][a-z0-9_]{0,31}"
MAX_BODY_BYTES = 4096
MAX_WAIT_S = 10.0
#: The viewer page talks to this server only (no external network) and is never framed (its
#: e-stop button must not be clickjacked). Its script and style are inline.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class StationHttp:
    """Owns the HTTP server thread; `stop()` closes it and any open video streams."""

    def __init__(self, storage: Storage, relay: FrameRelay, host: str = "127.0.0.1",
                 port: int = 8080, *, dispatcher: Dispatcher | None = None,
                 token: str | None = None, default_issuer: str = "station") -> None:
        self.storage, self.relay = storage, relay
        self.dispatcher, self.token, self.default_issuer = dispatcher, token, default_issuer
        self.stopping = threading.Event()
        self.page = resources.files("robot_dog.station").joinpath("web/index.html").read_bytes()
        station = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "robot-dog-station"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                station.handle(self)

            def do_POST(self) -> None:  # noqa: N802
                station.handle(self)

            def log_message(self, fmt: str, *args: Any) -> None:
                _LOGGER.debug("http %s - %s", self.address_string(), fmt % args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.routes: list[tuple[re.Pattern[str], Callable[..., None]]] = [
            (re.compile(r"^/$"), self._index),
            (re.compile(r"^/api/fleet$"), self._fleet),
            (re.compile(r"^/api/operator$"), self._operator),
            (re.compile(rf"^/api/dogs/({NAME})/telemetry$"), self._telemetry),
            (re.compile(rf"^/api/dogs/({NAME})/events$"), self._events),
            (re.compile(rf"^/api/dogs/({NAME})/commands$"), self._audit),
            (re.compile(rf"^/api/dogs/({NAME})/commands/({VERB})$"), self._command),
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
            for pattern, route in self.routes:
                match = pattern.match(path)
                if match:
                    if (req.command == "POST") != (route == self._command):
                        raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{req.command} {path[:200]}")
                    route(req, *match.groups())
                    return
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such resource: {path[:200]}")
        except HttpError as exc:
            _LOGGER.info("http %s %s -> %d %s", req.command, path[:200], exc.status, exc)
            self.send_json(req, {"error": str(exc)}, exc.status)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away mid-response
        except Exception:  # noqa: BLE001  (a handler bug must not kill the server)
            _LOGGER.exception("http %s %s failed", req.command, path[:200])
            self.send_json(req, {"error": "internal error"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    @staticmethod
    def send_json(req: BaseHTTPRequestHandler, body: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = json.dumps(body).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.send_header("Cache-Control", "no-store")
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
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

    def _fleet(self, req: BaseHTTPRequestHandler) -> None:
        counts = self.storage.counts()
        dogs = {d["dog"]: d for d in self.storage.fleet()}
        for dog in counts:
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        cameras: dict[str, list[str]] = {}
        for dog, camera in self.relay.cameras():
            cameras.setdefault(dog, []).append(camera)
            dogs.setdefault(dog, {"dog": dog, "status": "unknown", "last_seen": None})
        body = [{**d, **counts.get(name, {"telemetry": 0, "frames": 0, "events": 0}),
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
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be a number") from None
        return min(max(value, 0.0), hi)

    def _events(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "events": self.storage.events(dog, limit)})

    def _audit(self, req: BaseHTTPRequestHandler, dog: str) -> None:
        limit = int(self._number(req, "limit", 100, 1000))
        self.send_json(req, {"dog": dog, "commands": self.storage.commands(dog, limit)})

    def _authorize(self, req: BaseHTTPRequestHandler, what: str) -> str:
        """The operator (audit `issuer`) of a request carrying the right operator token."""
        if self.dispatcher is None or not self.token:
            raise HttpError(HTTPStatus.FORBIDDEN, "commands are disabled: no fleet directory or "
                            "operator token configured")
        issuer = req.headers.get("X-Operator", self.default_issuer)
        given = req.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            _LOGGER.warning("command API: refused %s for operator %r from %s (bad token)", what,
                            issuer[:64], req.address_string())
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong operator token")
        try:
            fleet_mod.check_user(issuer)
        except fleet_mod.FleetError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return issuer

    def _operator(self, req: BaseHTTPRequestHandler) -> None:
        operator = self._authorize(req, "viewer login")
        _LOGGER.info("viewer login: operator %s from %s", operator, req.address_string())
        self.send_json(req, {"operator": operator})

    def _command(self, req: BaseHTTPRequestHandler, dog: str, verb: str) -> None:
        issuer = self._authorize(req, f"{verb} {dog}")
        length = int(req.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        try:
            args = json.loads(req.rfile.read(length) or b"{}")
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments") from None
        if not isinstance(args, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object of arguments")
        wait_s = self._number(req, "wait", 5.0, MAX_WAIT_S)
        try:
            nonce = self.dispatcher.send(dog, verb, args, issuer)
        except DispatchError as exc:
            raise HttpError(HTTPStatus(exc.status), str(exc)) from None
        result = self.dispatcher.wait(nonce, wait_s) if wait_s > 0 else None
        if result is None:
            self.send_json(req, {"nonce": nonce, "status": "sent"}, HTTPStatus.ACCEPTED)
        else:
            self.send_json(req, {"nonce": nonce, "status": "done", "result": result})

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
        while not self.stopping.is_set():
            new_seq, frame = self.relay.wait_newer(dog, camera, seq, timeout_s=1.0)
            if frame is None or new_seq == seq:
                continue
            seq = new_seq
            req.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            f"{len(frame.jpeg)}\r\n\r\n".encode() + frame.jpeg + b"\r\n")
            req.wfile.flush()
