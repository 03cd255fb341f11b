"""Pairing of the one handheld that may drive (pure; `now` in s from a monotonic clock).

The dog prints a one-time code (6 digits, valid `code_ttl_s`). A handheld that presents it gets a
session token; the code is spent. Exactly one handheld is paired: pairing again (with a new
code, printed again by the dog) replaces the old token, so a second phone cannot take over
without a code and the first one stops driving the moment it is replaced. Wrong codes are rate
limited: after `max_failures` within `window_s`, every attempt is refused for `lockout_s`, even
the right code (a brute force of 10^6 codes at 5 per minute takes years).
"""
from __future__ import annotations

import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field

from robot_dog.safety.errors import Refused


@dataclass
class Pairing:
    code_ttl_s: float = 300.0
    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 60.0
    _code: str | None = field(init=False, default=None)
    _code_expires: float = field(init=False, default=0.0)
    _token: str | None = field(init=False, default=None)
    _failures: deque = field(init=False, default_factory=deque)
    _locked_until: float = field(init=False, default=float("-inf"))

    def new_code(self, now: float) -> str:
        """A fresh one-time code (the previous one is void); the dog prints it."""
        self._code = f"{secrets.randbelow(10**6):06d}"
        self._code_expires = now + self.code_ttl_s
        return self._code

    def pair(self, code: str, now: float) -> str:
        """The session token for the right code, or Refused with the reason."""
        if now < self._locked_until:
            raise Refused(f"too many wrong codes: locked for {self._locked_until - now:.0f} s")
        if self._code is None or now > self._code_expires:
            raise Refused("no pairing code is open: print a new one on the dog")
        if not isinstance(code, str) or not hmac.compare_digest(code.encode(), self._code.encode()):
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self.window_s:
                self._failures.popleft()
            if len(self._failures) >= self.max_failures:
                self._locked_until = now + self.lockout_s
                self._failures.clear()
            raise Refused("wrong pairing code")
        self._code = None            # one time
        self._failures.clear()
        self._token = secrets.token_urlsafe(24)
        return self._token

    def check(self, token: str) -> None:
        """Refused unless `token` is the paired handheld's."""
        if self._token is None:
            raise Refused("no handheld is paired")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise Refused("not the paired handheld (pair with a new code to take over)")

    @property
    def paired(self) -> bool:
        return self._token is not None
