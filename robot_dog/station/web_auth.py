"""Who may read and who may command through the station's web server (one place for it).

Two credentials, as the station has always had them:
- the operator token, as `Authorization: Bearer <token>` with `X-Operator: name` (the audit's
  `issuer`): needed for commands, voice and the login itself. Never a cookie: a cross-site
  request cannot send a header, so no other page can command a dog through a viewer's browser.
- the session cookie that a successful login (GET /api/operator) sets (HttpOnly,
  SameSite=Strict): enough for reads, video and watching on the live WebSocket.

The web app reaches this only through `StationAuth.viewer` and `StationAuth.operator` (FastAPI
dependencies) and, for the WebSocket, `viewer_of` / `operator_of`, so another account system
replaces this class without touching a route. Wrong tokens lock out the wrong token itself,
never the right one (station/throttle.py).
"""
from __future__ import annotations

import hashlib
import hmac
import http.cookies
import logging
import math
import secrets
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus

from starlette.requests import HTTPConnection

from robot_dog import fleet as fleet_mod
from robot_dog.station.throttle import TokenThrottle

_LOGGER = logging.getLogger("robot_dog.station.web")
SESSION_COOKIE = "robot_dog_session"
SESSION_TTL_S = 8 * 3600.0
MAX_SESSIONS = 256
#: Wrong tokens logged one by one per minute; beyond, a count in the next line.
REFUSAL_LINES = 10


class AuthRefused(Exception):
    """A refusal with its HTTP status (the web app answers it as JSON)."""

    def __init__(self, status: HTTPStatus, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


class StationAuth:
    def __init__(self, token: str | None, *, commands: bool, default_issuer: str,
                 clock: Callable[[], float]) -> None:
        self.token, self.commands, self.default_issuer = token, commands, default_issuer
        self._clock = clock
        self.throttle = TokenThrottle()
        self._lock = threading.Lock()   # the throttle and sessions (routes run in threads too)
        self._refusal_lines: list[float] = []
        self._unlogged_refusals = 0
        self._fingerprint_key = secrets.token_bytes(32)  # wrong tokens are kept as HMACs only
        self._sessions: dict[str, tuple[str, float]] = {}  # cookie -> (operator, expires at)

    # --- FastAPI dependencies --------------------------------------------------------------
    def viewer(self, request: HTTPConnection) -> str:
        """Reads: the session cookie or the bearer token; returns the operator."""
        if not self.token:
            raise AuthRefused(HTTPStatus.FORBIDDEN, "reads are disabled: no operator token "
                              "configured (fleet directory, --operator-token-file or "
                              "ROBOT_DOG_OPERATOR_TOKEN)")
        operator = self.viewer_of(request.headers)
        if operator is not None:
            return operator
        if not request.headers.get("Authorization"):
            raise AuthRefused(HTTPStatus.UNAUTHORIZED, "log in first (GET /api/operator with the "
                              "operator token)")
        issuer = request.headers.get("X-Operator", self.default_issuer)
        self._check_token(request.headers.get("Authorization", ""), _client(request),
                          f"read {request.url.path[:100]}", issuer)
        return issuer

    def operator(self, request: HTTPConnection) -> str:
        """Commands and voice: the bearer token itself (never the cookie)."""
        return self._authorize(request, request.url.path[:100], command=True)

    def login(self, request: HTTPConnection) -> str:
        return self._authorize(request, "viewer login", command=False)

    # --- sessions --------------------------------------------------------------------------
    def open_session(self, operator: str) -> str:
        cookie, now = secrets.token_urlsafe(32), self._clock()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[cookie] = (operator, now + SESSION_TTL_S)
        return cookie

    def close_session(self, headers: Mapping[str, str]) -> None:
        with self._lock:
            self._sessions.pop(_cookie(headers) or "", None)

    def viewer_of(self, headers: Mapping[str, str]) -> str | None:
        """The operator whose live session cookie these headers carry, or None."""
        cookie = _cookie(headers)
        if not cookie or not self.token:
            return None
        with self._lock:
            operator, expires = self._sessions.get(cookie, ("", 0.0))
        return operator if self._clock() < expires else None

    def operator_of(self, token: str, issuer: str, client: str) -> str:
        """A live page proving it holds the operator token (its WebSocket `auth` message):
        the same checks, throttle and log as a command's header; returns the issuer."""
        return self._authorize_with(f"Bearer {token}", issuer, client, "live commands",
                                    command=True)

    @staticmethod
    def session_cookie(value: str) -> str:
        return (f"{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; "
                f"Max-Age={int(SESSION_TTL_S)}")

    @staticmethod
    def cleared_cookie() -> str:
        return f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"

    # --- the token -------------------------------------------------------------------------
    def _authorize(self, request: HTTPConnection, what: str, *, command: bool) -> str:
        return self._authorize_with(request.headers.get("Authorization", ""),
                                    request.headers.get("X-Operator", self.default_issuer),
                                    _client(request), what, command=command)

    def _authorize_with(self, given: str, issuer: str, client: str, what: str, *,
                        command: bool) -> str:
        if not self.token or (command and not self.commands):
            raise AuthRefused(HTTPStatus.FORBIDDEN, "commands are disabled: no fleet directory "
                              "or operator token configured" if command else "logins are "
                              "disabled: no operator token configured")
        self._check_token(given, client, what, issuer)
        try:
            fleet_mod.check_user(issuer)
        except fleet_mod.FleetError as exc:
            raise AuthRefused(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return issuer

    def _check_token(self, given: str, client: str, what: str, issuer: str) -> None:
        """`given` is "Bearer <the operator token>", or AuthRefused (401, 429).

        The lockout is kept per credential presented (an HMAC of it), never per client address:
        every local client, and everyone behind a reverse proxy, is 127.0.0.1, and a lockout by
        address let anyone lock the operator out."""
        now = self._clock()
        credential = hmac.new(self._fingerprint_key, given.encode(), hashlib.sha256).hexdigest()
        with self._lock:
            wait = self.throttle.retry_after(credential, now)
        if wait > 0:  # refused unseen: a guess during a lockout tells nothing
            raise AuthRefused(HTTPStatus.TOO_MANY_REQUESTS, f"too many tries with this wrong "
                              f"token; retry in {math.ceil(wait)} s",
                              {"Retry-After": str(math.ceil(wait))})
        if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            with self._lock:
                self.throttle.succeeded(credential)
            return
        with self._lock:
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
        raise AuthRefused(HTTPStatus.UNAUTHORIZED, "missing or wrong operator token")


def _client(request: HTTPConnection) -> str:
    return request.client.host if request.client else "?"


def _cookie(headers: Mapping[str, str]) -> str | None:
    try:
        jar = http.cookies.SimpleCookie(headers.get("Cookie", ""))
    except http.cookies.CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None
