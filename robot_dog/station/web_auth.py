"""Who is asking the station's web server, and may they: its one door to the accounts
(robot_dog/station/accounts; docs/security.md, "People and roles").

A request proves who it is with the session cookie of a password login (plus the header
X-CSRF-Token on every state-changing request) or with a per-person API token as
`Authorization: Bearer <token>`; `Accounts.authenticate` decides which and `Accounts.authorize`
checks the action the route names against the role table. The web app reaches the accounts
only through `WebAuth`: the routes through `check` (in a worker thread: a lookup writes
`last_seen`, a refusal writes the audit log), the live WebSocket through `page_session` and
`csrf_matches`.

The address given to the accounts (lockouts, the audit log) is the connection's peer, never a
header such as X-Forwarded-For, which is the client's to write.
"""
from __future__ import annotations

import http.cookies
import math
from collections.abc import Mapping
from http import HTTPStatus

from starlette.requests import HTTPConnection

from robot_dog.errors import Refused
from robot_dog.station.accounts import AccountError, Accounts, Principal, command_action
from robot_dog.station.accounts import credentials
from robot_dog.station.accounts.access import session_cookie

SESSION_COOKIE = "robot_dog_session"
#: Requests that change nothing (no CSRF token needed with a session).
SAFE_METHODS = frozenset({"GET", "HEAD"})


class HttpError(Refused):
    """An HTTP refusal: answered {"error": detail, "code": code}; `code` defaults to the status
    phrase in snake_case ("bad_request", "unauthorized", "too_many_requests")."""

    def __init__(self, status: HTTPStatus | int, message: str,
                 headers: dict[str, str] | None = None, *, code: str = "") -> None:
        status = HTTPStatus(status)
        super().__init__(code or status.phrase.lower().replace(" ", "_").replace("-", "_"), message)
        self.status, self.headers = status, headers

    @classmethod
    def of(cls, exc: AccountError) -> "HttpError":
        wait = math.ceil(exc.retry_after_s)
        return cls(HTTPStatus(exc.status), str(exc), {"Retry-After": str(wait)} if wait else None,
                   code=exc.code)


def peer(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "?"


def session_id(headers: Mapping[str, str]) -> str | None:
    try:
        jar = http.cookies.SimpleCookie(headers.get("Cookie", ""))
    except http.cookies.CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel else None


class WebAuth:
    def __init__(self, accounts: Accounts, *, secure_cookies: bool = False) -> None:
        self.accounts, self.secure_cookies = accounts, secure_cookies

    def check(self, conn: HTTPConnection, action: str, target: str = "", *,
              filtered: bool = False) -> Principal:
        """The principal of this request if its role may do `action` (on `target`, a dog), else
        HttpError (401 who are you, 403 not your role or a bad CSRF token). Blocking: call it
        from a worker thread. For `command`, the verb in the path picks the action (e-stop and
        its release are `estop`)."""
        if action == "command":
            action = command_action(str(conn.path_params.get("verb", "")))
        method = conn.scope.get("method", "GET")
        address = peer(conn)
        try:
            principal = self.accounts.authenticate(
                cookie=session_id(conn.headers), authorization=conn.headers.get("Authorization"),
                csrf=conn.headers.get("X-CSRF-Token"), state_changing=method not in SAFE_METHODS,
                address=address)
            self.accounts.authorize(principal, action, target, address, filtered=filtered)
        except AccountError as exc:
            raise HttpError.of(exc) from None
        return principal

    def page_session(self, conn: HTTPConnection) -> tuple[Principal, str]:
        """The live page's principal and session id (its cookie; a WebSocket carries no CSRF
        header: its Origin is checked instead), if the role may watch; else HttpError. The page
        filters what it sends by Accounts.visible_dogs (live_socket.py)."""
        cookie = session_id(conn.headers)
        if not cookie:
            raise HttpError(HTTPStatus.UNAUTHORIZED, "log in first (POST /api/login)",
                            code="not_authenticated")
        address = peer(conn)
        try:
            principal = self.accounts.session(cookie, address)
            self.accounts.authorize(principal, "watch", "", address, filtered=True)
        except AccountError as exc:
            raise HttpError.of(exc) from None
        return principal, cookie

    def still(self, cookie: str, action: str, target: str, address: str, *,
              filtered: bool = False) -> Principal:
        """A live page's session, looked up again (a logout, expiry or disabled account ends
        it at once) and checked for `action`; else HttpError. `filtered`: as `check`."""
        try:
            principal = self.accounts.session(cookie, address)
            self.accounts.authorize(principal, action, target, address, filtered=filtered)
        except AccountError as exc:
            raise HttpError.of(exc) from None
        return principal

    @staticmethod
    def csrf_matches(cookie: str, csrf: object) -> bool:
        return isinstance(csrf, str) and bool(csrf) and credentials.same(
            csrf, Accounts.csrf(cookie))

    def cookie(self, value: str, max_age_s: float) -> str:
        return session_cookie(SESSION_COOKIE, value, max_age_s, self.secure_cookies)
