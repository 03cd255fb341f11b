"""Pairing of the one handheld that may drive (pure; `now` in s from a monotonic clock).

The dog opens a one-time code (6 digits, valid `code_ttl_s`) for a named officer when asked
(`robot-dog teleop pair --officer NAME`); a handheld that presents it gets a session token, is
that officer's, and the code is spent. Every command from it carries the officer's name (the
dog's logs, its events to the station, the bodycam's officer field). Exactly one handheld is
paired: pairing again (with a new code, for the same officer's second phone or for another
officer) replaces the old token, so the old phone is revoked the moment the new one pairs, and a
second phone cannot take over without a code. `revoke` (a lost phone, the officer signing out)
voids the token: no officer is paired until a new code is used.

Wrong codes are limited per client and per code, never globally, so a stranger's guesses cannot
keep the officer from pairing:
- per client (its network address): `max_failures` wrong codes within `window_s` lock that
  client out for `lockout_s`, doubling with each further lockout up to `max_lockout_s`; the
  back-off is forgotten after `max_lockout_s` without a wrong code, or when the client pairs;
- per code: one code takes at most `code_guesses` wrong guesses from all clients together, then
  it is void and the dog must open a new one. A guesser with many addresses therefore wins with
  probability at most `code_guesses` / 10^6 per code, and one address gets 5 guesses a minute
  at first and far fewer after that.
The table of clients is bounded (`max_clients`, oldest forgotten first).
"""
from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from robot_dog.person_names import check_person_name
from robot_dog.teleop.errors import HandheldRefused


@dataclass
class _Client:
    failures: deque = field(default_factory=deque)
    locked_until: float = float("-inf")
    lockouts: int = 0          # lockouts so far: the next one lasts lockout_s * 2**lockouts
    last_failure: float = float("-inf")


@dataclass
class Pairing:
    code_ttl_s: float = 300.0
    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 30.0
    max_lockout_s: float = 900.0
    code_guesses: int = 20
    max_clients: int = 4096
    _code: str | None = field(init=False, default=None)
    _code_expires: float = field(init=False, default=0.0)
    _code_wrong: int = field(init=False, default=0)
    _code_officer: str = field(init=False, default="")
    _token: str | None = field(init=False, default=None)
    _officer: str = field(init=False, default="")
    _clients: OrderedDict = field(init=False, default_factory=OrderedDict)

    def new_code(self, now: float, officer: str) -> str:
        """A fresh one-time code for `officer` (the previous one is void); the dog gives it to
        the officer. HandheldRefused(`bad_officer`) for a name the station would not take."""
        try:
            self._code_officer = check_person_name(officer)
        except ValueError as exc:
            raise HandheldRefused("bad_officer", f"officer: {exc}") from None
        self._code = f"{secrets.randbelow(10**6):06d}"
        self._code_expires = now + self.code_ttl_s
        self._code_wrong = 0
        return self._code

    def pair(self, code: str, client: str, now: float) -> str:
        """The session token for the right code from `client`, or HandheldRefused."""
        record = self._clients.get(client)
        if record is not None and now < record.locked_until:
            raise HandheldRefused("pairing_locked", "too many wrong codes from this client: "
                                  f"wait {record.locked_until - now:.0f} s")
        if self._code is None or now > self._code_expires:
            raise HandheldRefused("no_code_open", "no pairing code is open: "
                                  "open a new one on the dog (robot-dog teleop pair)")
        if not isinstance(code, str) or not hmac.compare_digest(code.encode(), self._code.encode()):
            self._wrong(client, now)
            self._code_wrong += 1
            if self._code_wrong >= self.code_guesses:
                self._code = None
                raise HandheldRefused("code_void", f"wrong pairing code; this code took "
                                      f"{self.code_guesses} wrong guesses and is void: open a new one")
            raise HandheldRefused("wrong_code", "wrong pairing code")
        self._code = None            # one time
        self._clients.pop(client, None)
        self._token = secrets.token_urlsafe(24)
        self._officer = self._code_officer
        return self._token

    def _wrong(self, client: str, now: float) -> None:
        record = self._clients.pop(client, None)
        if record is None or now - record.last_failure > self.max_lockout_s:
            record = _Client()     # new, or quiet long enough: the back-off starts over
        self._clients[client] = record   # newest last: the oldest are forgotten first
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        record.last_failure = now
        record.failures.append(now)
        while record.failures and now - record.failures[0] > self.window_s:
            record.failures.popleft()
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + min(self.max_lockout_s, self.lockout_s * 2 ** record.lockouts)
            record.lockouts += 1
            record.failures.clear()

    def check(self, token: str) -> None:
        """HandheldRefused unless `token` is the paired handheld's."""
        if self._token is None:
            raise HandheldRefused("not_paired", "no handheld is paired: pair with a new code")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise HandheldRefused("not_paired", "not the paired handheld (pair with a new code to take over)")

    def revoke(self) -> None:
        """The paired handheld was lost or its officer signed out: its token no longer resumes,
        no officer is paired; the officer pairs again with a new code."""
        self._token, self._officer = None, ""

    @property
    def paired(self) -> bool:
        return self._token is not None

    @property
    def officer_of_code(self) -> str:
        """The officer the open code (or the last one) was issued to."""
        return self._code_officer

    @property
    def officer(self) -> str:
        """The paired handheld's officer; empty when none is paired."""
        return self._officer
