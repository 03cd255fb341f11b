"""Accounts, sessions, API tokens and the audit log: the station's people, framework-neutral.

The web layer (any framework) calls, per request:
  `authenticate(...)` -> Principal   who is asking (session cookie + CSRF, or bearer API token)
  `authorize(principal, action, ...)` the role table (roles.ACTIONS) says yes, or Forbidden
and for the routes that are about people: `login`, `logout`, `logout_everywhere`,
`create_token`, `list_tokens`, `revoke_token`, `audit_page`, the accounts themselves
(`add_account`, `set_role`, `set_password`, `set_disabled`, `list_accounts`: the console's and
the command line's one implementation), the handheld pairings (`paired`, `unpaired`,
`visible_dogs`); `command_sent` after a command left. Every refusal is an AccountError with a
stable `code` and an HTTP `status`.

Policy (docs/security.md, "People and roles"):
- sessions: 256-bit random ids kept as SHA-256 digests; refused after IDLE_S without a request
  or ABSOLUTE_S after the login, and at once when the account is disabled; a state-changing
  request with a session also needs its CSRF token (credentials.csrf_for).
- lockout: wrong passwords lock the account out (5 in a minute: 30 s, doubling to 15 min) and
  the client address out (20 in a minute, same back-off). The address is the connection's peer,
  given by the server, never read from a header (X-Forwarded-For is the client's to write).
  While locked out a login is refused without checking the password. A lockout stops password
  logins only: live sessions and API tokens go on working.
- the last enabled admin cannot be disabled or given another role (`last_admin`): someone must
  be left who can manage the accounts.
- an officer (roles.SCOPED_ROLES) acts only on the dogs whose handheld pairing code was issued
  to them (the `pairings` table); another dog is `dog_not_paired` (403), audited.
- passwords are checked one at a time (argon2 takes a core for its ~50 ms): a flood of logins
  queues behind that one core, the station's other work keeps the other.
Time comes in through `clock` (wall time, s): tests pass a fake one.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from robot_dog.station.accounts import credentials, roles
from robot_dog.station.accounts.errors import (AccountExists, BadCredentials, BadName,
                                               BadPassword, CsrfRefused, DogNotPaired,
                                               Forbidden, LastAdmin, LockedOut, MigrationRefused,
                                               NotAuthenticated, SessionExpired, UnknownAccount,
                                               UnknownOfficer, UnknownToken)
from robot_dog.station.storage.accounts import AccountTables, SessionRow, TokenRow
from robot_dog.station.throttle import TokenThrottle

_LOGGER = logging.getLogger(__name__)

IDLE_S = 30 * 60.0
ABSOLUTE_S = 12 * 3600.0
#: A session's last_seen is written at most this often (one write per request would be a lot).
TOUCH_EVERY_S = 30.0
#: Refused bearer tokens written to the audit log per minute; beyond, counted in the next line.
REFUSED_TOKENS_PER_MIN = 10
#: The account the shared operator token of old fleets becomes (robot-dog station migrate).
MIGRATED_ACCOUNT = "operator"
MIN_MIGRATED_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Principal:
    """Who a request is: an account and how it proved it ("session", "token" or "local" for
    the station's own command line, run by whoever may write its database)."""
    name: str
    role: str
    via: str
    credential: str = ""   # token id, or the first 8 hex of the session digest

    @property
    def issuer(self) -> str:
        """The name signed into commands (the envelope's `issuer`)."""
        return self.name


def local_admin(user: str) -> Principal:
    """The station's command line: whoever can open its database is its administrator."""
    return Principal(f"local:{user}"[:credentials.MAX_NAME_CHARS], "admin", "local")


@dataclass(frozen=True)
class NewSession:
    session_id: str   # the cookie's value; never stored
    csrf: str         # the header X-CSRF-Token of state-changing requests
    principal: Principal
    max_age_s: float  # the cookie's Max-Age (the absolute timeout)


@dataclass(frozen=True)
class NewToken:
    token_id: str
    secret: str       # shown once; only its digest is kept
    account: str
    label: str


class Accounts:
    def __init__(self, tables: AccountTables, *, clock: Callable[[], float] = time.time,
                 idle_s: float = IDLE_S, absolute_s: float = ABSOLUTE_S) -> None:
        self.tables, self._clock = tables, clock
        self.idle_s, self.absolute_s = idle_s, absolute_s
        self._by_account = TokenThrottle(max_failures=5, window_s=60.0, lockout_s=30.0)
        self._by_address = TokenThrottle(max_failures=20, window_s=60.0, lockout_s=30.0)
        self._throttle_lock = threading.Lock()
        self._hashing = threading.Lock()   # one argon2 at a time (module docstring)
        self._refused_tokens: list[float] = []
        self._unlogged_tokens = 0

    # --- audit ---------------------------------------------------------------------------------
    def record(self, kind: str, actor: str, target: str = "", *, address: str = "",
               ok: bool = True, **detail: Any) -> None:
        """Append one line to the audit log (the only write it ever gets)."""
        self.tables.append_audit(self._clock(), kind, actor, target, address, ok, detail)

    def command_sent(self, principal: Principal, dog: str, verb: str, nonce: str,
                     address: str = "") -> None:
        self.record("command", principal.name, dog, address=address, verb=verb, nonce=nonce,
                    via=principal.via)

    def audit_page(self, principal: Principal, limit: int = 100, *, before_id: int | None = None,
                   kind: str | None = None, actor: str | None = None,
                   target: str | None = None, since: float | None = None,
                   until: float | None = None) -> list[dict[str, Any]]:
        self.authorize(principal, "audit")
        return self.tables.audit(max(1, min(limit, 1000)), before_id=before_id,
                                 kind=_filter(kind), actor=_filter(actor), target=_filter(target),
                                 since=since, until=until)

    # --- who is asking -------------------------------------------------------------------------
    def login(self, name: object, password: object, address: str) -> NewSession:
        """A password login from `address` (the connection's peer): a new session, or
        BadCredentials / LockedOut / BadPassword. Every outcome is in the audit log."""
        shown = credentials.shown(name)
        try:
            account_name = credentials.check_name(name)
            secret = credentials.check_password(password)
        except (BadName, BadPassword) as exc:
            self.record("login_failed", shown, shown, address=address, ok=False, reason=exc.code)
            raise
        now = self._clock()
        with self._throttle_lock:
            wait = max(self._by_address.retry_after(address, now),
                       self._by_account.retry_after(account_name, now))
        if wait > 0:
            self.record("login_refused", account_name, account_name, address=address, ok=False,
                        reason="locked_out", retry_after_s=round(wait, 1))
            raise LockedOut(f"too many failed logins; retry in {int(wait) + 1} s",
                            retry_after_s=wait)
        row = self.tables.account(account_name)
        with self._hashing:
            matches = credentials.verify_password(row.password_hash if row else None, secret)
        if row is None or not matches or row.disabled:
            reason = ("unknown_account" if row is None else
                      "wrong_password" if not matches else "disabled")
            self.record("login_failed", account_name, account_name, address=address, ok=False,
                        reason=reason)
            self._failed_login(account_name, address, now)
            raise BadCredentials("wrong name or password")
        with self._throttle_lock:
            self._by_account.succeeded(account_name)
        assert row.password_hash is not None
        if credentials.needs_rehash(row.password_hash):
            self.tables.set_password_hash(account_name, credentials.hash_password(secret))
        session_id = credentials.new_secret()
        digest = credentials.digest(session_id)
        self.tables.add_session(SessionRow(digest, account_name, address, now, now))
        self.tables.end_sessions_before(now - self.absolute_s, now - self.idle_s)
        principal = Principal(account_name, row.role, "session", digest[:8])
        self.record("login", account_name, account_name, address=address, session=digest[:8])
        return NewSession(session_id, credentials.csrf_for(session_id), principal,
                          self.absolute_s)

    def login_refused(self, address: str, reason: str) -> None:
        """A login whose body was refused before a name could be read (too large, not JSON):
        audited as a failed login of no name (`?`). It does not count towards a lockout: no
        password was tried."""
        self.record("login_failed", "?", "", address=address, ok=False, reason=reason)

    def _failed_login(self, account_name: str, address: str, now: float) -> None:
        with self._throttle_lock:
            locks = [(kind, key, throttle.failed(key, now)) for kind, key, throttle in
                     (("account", account_name, self._by_account),
                      ("address", address, self._by_address))]
        for kind, key, lockout in locks:
            if lockout:
                _LOGGER.warning("accounts: %s %r locked out of password logins for %.0f s",
                                kind, key, lockout)
                self.record("lockout", account_name, key, address=address, ok=False,
                            scope=kind, seconds=lockout)

    def authenticate(self, *, cookie: str | None, authorization: str | None,
                     csrf: str | None, state_changing: bool, address: str = "") -> Principal:
        """Who sends this request: `authorization` is the Authorization header (a bearer API
        token; then the cookie is not looked at), `cookie` the session cookie's value, `csrf`
        the X-CSRF-Token header (needed with a session when `state_changing`)."""
        if authorization:
            return self._bearer(authorization, address)
        if not cookie:
            raise NotAuthenticated("log in first (POST /api/login) or send an API token as "
                                   "Authorization: Bearer")
        principal = self.session(cookie, address)
        if state_changing and not (csrf and credentials.same(csrf, credentials.csrf_for(cookie))):
            self.record("csrf_refused", principal.name, "", address=address, ok=False)
            raise CsrfRefused("missing or wrong X-CSRF-Token for this session")
        return principal

    @staticmethod
    def csrf(session_id: str) -> str:
        """The CSRF token of a session (for GET /api/session after a page reload)."""
        return credentials.csrf_for(session_id)

    def session(self, session_id: str, address: str = "") -> Principal:
        """The principal of a live session, or NotAuthenticated / SessionExpired."""
        now, digest = self._clock(), credentials.digest(session_id)
        row = self.tables.session(digest)
        if row is None:
            raise NotAuthenticated("no such session (logged out, or the station forgot it); "
                                   "log in again")
        if now - row.created_at > self.absolute_s or now - row.last_seen > self.idle_s:
            self.tables.end_session(digest)
            self.record("session_expired", row.account, "", address=address, ok=False,
                        session=digest[:8])
            raise SessionExpired("the session expired; log in again")
        account = self.tables.account(row.account)
        if account is None or account.disabled:
            self.tables.end_session(digest)
            self.record("session_refused", row.account, "", address=address, ok=False,
                        reason="disabled", session=digest[:8])
            raise NotAuthenticated("this account is disabled")
        if now - row.last_seen >= TOUCH_EVERY_S:
            self.tables.touch_session(digest, now)
        return Principal(account.name, account.role, "session", digest[:8])

    def _bearer(self, authorization: str, address: str) -> Principal:
        scheme, _, secret = authorization.strip().partition(" ")
        row = (self.tables.token_by_digest(credentials.digest(secret.strip()))
               if scheme.lower() == "bearer" and secret else None)
        account = self.tables.account(row.account) if row is not None else None
        if row is None or row.revoked_at is not None or account is None or account.disabled:
            reason = ("unknown" if row is None else "revoked" if row.revoked_at is not None
                      else "account_disabled")
            self._refused_token(row.account if row else "?", address, reason,
                                row.id if row else "")
            raise NotAuthenticated("missing, unknown or revoked API token")
        return Principal(account.name, account.role, "token", row.id)

    def _refused_token(self, account: str, address: str, reason: str, token_id: str) -> None:
        """Audit a refused bearer token; a flood of them: REFUSED_TOKENS_PER_MIN a minute."""
        now = self._clock()
        with self._throttle_lock:
            self._refused_tokens = [t for t in self._refused_tokens if now - t < 60.0]
            logged = len(self._refused_tokens) < REFUSED_TOKENS_PER_MIN or token_id != ""
            unlogged, self._unlogged_tokens = ((self._unlogged_tokens, 0) if logged else
                                               (0, self._unlogged_tokens + 1))
            if logged:
                self._refused_tokens.append(now)
        if logged:
            self.record("token_refused", account, token_id, address=address, ok=False,
                        reason=reason, unlogged_before=unlogged)

    def authorize(self, principal: Principal, action: str, target: str = "",
                  address: str = "", *, filtered: bool = False) -> None:
        """Forbidden (and an audit line) unless the role table lets `principal` do `action`;
        for a role limited to its paired dogs, `target` must be one of them, else DogNotPaired.
        `filtered`: the caller asks for a list it filters with `visible_dogs` (no target); any
        other call without a dog is refused to such a role, so a route that forgets to filter
        shows an officer nothing."""
        if not roles.allowed(principal.role, action):
            self.record("denied", principal.name, target, address=address, ok=False,
                        action=action, role=principal.role, via=principal.via)
            raise Forbidden(f"the role {principal.role} may not {action}")
        if action not in roles.DOG_ACTIONS or principal.role not in roles.SCOPED_ROLES:
            return
        if not target and not filtered:   # a list of every dog's: not for this role
            self.record("denied", principal.name, target, address=address, ok=False,
                        action=action, role=principal.role, via=principal.via, reason="unscoped")
            raise Forbidden(f"the role {principal.role} sees only the dogs paired to it; "
                            "this answer is not limited to them")
        if target and target not in self.tables.dogs_of(principal.name):
            self.record("denied", principal.name, target, address=address, ok=False,
                        action=action, role=principal.role, via=principal.via,
                        reason=DogNotPaired.code)
            raise DogNotPaired(f"{principal.name} is not paired with {target}: an officer "
                               "commands only the dogs whose pairing code was issued to them")

    def visible_dogs(self, principal: Principal) -> frozenset[str] | None:
        """The dogs `principal` may see in a list; None: every dog."""
        if principal.role in roles.SCOPED_ROLES:
            return self.tables.dogs_of(principal.name)
        return None

    def logout(self, session_id: str, address: str = "") -> None:
        row = self.tables.session(credentials.digest(session_id))
        if row is not None and self.tables.end_session(row.digest):
            self.record("logout", row.account, "", address=address, session=row.digest[:8])

    def logout_everywhere(self, principal: Principal, name: str | None = None,
                          address: str = "") -> int:
        """End every session of `name` (default: one's own; another's needs `accounts`)."""
        name = principal.name if name is None else credentials.check_name(name)
        if name != principal.name:
            self.authorize(principal, "accounts", name, address)
        ended = self.tables.end_sessions_of(name)
        self.record("logout_everywhere", principal.name, name, address=address, sessions=ended)
        return ended

    # --- accounts (the `accounts` action: admins, and the station's command line) ------------
    def add_account(self, actor: Principal, name: str, role: str,
                    password: str | None = None) -> str:
        """Create an account; returns its password (a one-time random one if none is given)."""
        self.authorize(actor, "accounts", name)
        name, role = credentials.check_name(name), roles.check_role(role)
        password = password if password is not None else self.new_password()
        if not self.tables.add_account(name, role, credentials.hash_password(password),
                                       self._clock()):
            raise AccountExists(f"an account named {name!r} exists")
        self.record("account_added", actor.name, name, role=role)
        return password

    @staticmethod
    def new_password() -> str:
        """A one-time password: 96 random bits in 16 URL-safe characters."""
        return secrets.token_urlsafe(12)

    def _existing(self, name: str) -> str:
        name = credentials.check_name(name)
        if self.tables.account(name) is None:
            raise UnknownAccount(f"no account named {name!r}")
        return name

    def set_password(self, actor: Principal, name: str, password: str | None = None) -> str:
        """A new password (one's own, or anyone's for an admin; a one-time random one if none
        is given), returned; every session of the account ends (whoever held one with the old
        password is out)."""
        if name != actor.name:
            self.authorize(actor, "accounts", name)
        name = self._existing(name)
        password = password if password is not None else self.new_password()
        self.tables.set_password_hash(name, credentials.hash_password(password))
        ended = self.tables.end_sessions_of(name)
        self.record("password_changed", actor.name, name, sessions_ended=ended)
        return password

    def set_role(self, actor: Principal, name: str, role: str) -> None:
        """A new role, in effect at the account's next request (sessions and tokens look the
        role up each time); LastAdmin if it is the last enabled admin's."""
        self.authorize(actor, "accounts", name)
        name, role = self._existing(name), roles.check_role(role)
        old = self.tables.account(name)
        if self.tables.set_role_unless_last_admin(name, role) is None:
            self._last_admin(actor, "role_changed", name, new=role)
        self.record("role_changed", actor.name, name, old=old.role if old else None, new=role)

    def set_disabled(self, actor: Principal, name: str, disabled: bool = True) -> None:
        """Disable (or enable) an account: its sessions end, its tokens stop working at once.
        LastAdmin for the last enabled admin."""
        self.authorize(actor, "accounts", name)
        name = self._existing(name)
        if not disabled:
            self.tables.set_disabled(name, False)
        elif self.tables.disable_unless_last_admin(name) is None:
            self._last_admin(actor, "account_disabled", name)
        ended = self.tables.end_sessions_of(name) if disabled else 0
        self.record("account_disabled" if disabled else "account_enabled", actor.name, name,
                    sessions_ended=ended)

    def _last_admin(self, actor: Principal, kind: str, name: str, **detail: Any) -> NoReturn:
        self.record(kind, actor.name, name, ok=False, reason=LastAdmin.code, **detail)
        raise LastAdmin(f"{name} is the last enabled admin: make another admin first")

    # --- handheld pairings (which dogs an officer may act on) ----------------------------------
    def officer_for_pairing(self, actor: Principal, dog: str, officer: object) -> str:
        """The officer a pairing code may be issued to (an enabled officer or operator
        account), checked before the code is asked of the dog; else UnknownOfficer."""
        self.authorize(actor, "pair", dog)
        name = credentials.check_name(officer)
        row = self.tables.account(name)
        if row is None or row.disabled or row.role not in ("officer", "operator"):
            self.record("pairing", actor.name, dog, ok=False, officer=name,
                        reason=UnknownOfficer.code)
            raise UnknownOfficer(f"{name!r} is not an enabled officer or operator account")
        return name

    def paired(self, actor: Principal, dog: str, officer: str, address: str = "") -> None:
        """The dog opened a pairing code for `officer`: from now on the officer acts on it (and,
        exactly one handheld per dog, the officer paired before no longer does)."""
        before = self.tables.end_pairing(dog)
        self.tables.set_pairing(dog, officer, actor.name, self._clock())
        self.record("pairing", actor.name, dog, address=address, officer=officer,
                    replaced=before)

    def unpaired(self, actor: Principal, dog: str, address: str = "") -> None:
        """A lost phone revoked: its officer no longer acts on the dog (until a new code)."""
        before = self.tables.end_pairing(dog)
        self.record("unpairing", actor.name, dog, address=address, officer=before)

    def pairings(self, actor: Principal) -> list[dict[str, Any]]:
        self.authorize(actor, "pair")
        return self.tables.pairings()

    def list_accounts(self, actor: Principal) -> list[dict[str, Any]]:
        self.authorize(actor, "accounts")
        return [{"name": a.name, "role": a.role, "disabled": a.disabled,
                 "created_at": a.created_at, "password": a.password_hash is not None}
                for a in self.tables.accounts()]

    # --- API tokens ----------------------------------------------------------------------------
    def create_token(self, actor: Principal, label: str, account: str | None = None) -> NewToken:
        """A new API token for `account` (default: one's own). The secret is in the answer once."""
        account = actor.name if account is None else self._existing(account)
        self.authorize(actor, "own_tokens" if account == actor.name else "tokens", account)
        label = credentials.shown(label.strip()) or "api token"
        token = NewToken(secrets.token_hex(6), credentials.new_secret(credentials.TOKEN_PREFIX),
                         account, label)
        self.tables.add_token(token.token_id, credentials.digest(token.secret), account, label,
                              self._clock())
        self.record("token_created", actor.name, account, token=token.token_id, label=label)
        return token

    def list_tokens(self, actor: Principal, account: str | None = None) -> list[dict[str, Any]]:
        """Tokens of `account` (default: one's own; everyone's with None from an admin: pass
        account="*")."""
        if account == "*" or (account is not None and account != actor.name):
            self.authorize(actor, "tokens")
        else:
            self.authorize(actor, "own_tokens")
        rows = self.tables.tokens(None if account == "*" else (account or actor.name))
        return [_token_view(row) for row in rows]

    def revoke_token(self, actor: Principal, token_id: str) -> None:
        """Revoke at once: the next request with it is refused."""
        row = self.tables.token(token_id)
        if row is None:
            raise UnknownToken(f"no API token {token_id[:32]!r}")
        self.authorize(actor, "own_tokens" if row.account == actor.name else "tokens",
                       row.account)
        if self.tables.revoke_token(token_id, self._clock()):
            self.record("token_revoked", actor.name, row.account, token=token_id)

    # --- the shared operator token of old fleets ------------------------------------------------
    def migrate_operator_token(self, actor: Principal, token: str,
                               account: str = MIGRATED_ACCOUNT) -> NewToken:
        """Keep an old fleet's shared operator token working as an admin API token of `account`
        (created without a password if missing), or MigrationRefused with the reason."""
        token = token.strip()
        if len(token) < MIN_MIGRATED_TOKEN_CHARS:
            raise MigrationRefused(f"the operator token has {len(token)} characters; a token "
                                   f"shorter than {MIN_MIGRATED_TOKEN_CHARS} is guessable and is "
                                   "not kept: create an API token instead (robot-dog station "
                                   "token create)")
        existing = self.tables.token_by_digest(credentials.digest(token))
        if existing is not None:
            raise MigrationRefused(f"this operator token is already the API token "
                                   f"{existing.id} of {existing.account!r}")
        self.authorize(actor, "accounts", account)
        account = credentials.check_name(account)
        row = self.tables.account(account)
        if row is None:
            self.tables.add_account(account, "admin", None, self._clock())
            self.record("account_added", actor.name, account, role="admin", migrated=True)
        elif row.role != "admin" or row.disabled:
            raise MigrationRefused(f"the account {account!r} exists as a "
                                   f"{'disabled ' if row.disabled else ''}{row.role}: choose "
                                   "another name for the migrated token")
        new = NewToken(secrets.token_hex(6), token, account, "migrated operator token")
        self.tables.add_token(new.token_id, credentials.digest(token), account, new.label,
                              self._clock())
        self.record("token_created", actor.name, account, token=new.token_id, label=new.label,
                    migrated=True)
        return new

    def is_token(self, secret: str) -> bool:
        """Whether `secret` is a live API token (the station's check of an old operator token)."""
        row = self.tables.token_by_digest(credentials.digest(secret.strip()))
        return row is not None and row.revoked_at is None


def adopt_operator_token(accounts: Accounts, token: str) -> NewToken | None:
    """At start-up with an old fleet's shared operator token: keep it working as the admin API
    token of the account `operator` (as `robot-dog station migrate` does; None if it already
    is one), or MigrationRefused. The free-form operator name of old never comes back."""
    if accounts.is_token(token):
        return None
    migrated = accounts.migrate_operator_token(local_admin("station"), token)
    _LOGGER.warning("the shared operator token is now the API token %s of the admin account "
                    "%r: give each person an account (robot-dog station user add) and revoke it "
                    "(robot-dog station token revoke %s)", migrated.token_id, migrated.account,
                    migrated.token_id)
    return migrated


def session_cookie(name: str, session_id: str, max_age_s: float, secure: bool) -> str:
    """The Set-Cookie value for a session (an empty id and age 0: the cookie is removed).
    HttpOnly: no script reads it; SameSite=Strict: no other site's request carries it;
    Secure when the page is served over TLS."""
    return (f"{name}={session_id}; HttpOnly; SameSite=Strict; Path=/; "
            f"Max-Age={max(0, int(max_age_s))}" + ("; Secure" if secure else ""))


def _filter(value: str | None) -> str | None:
    """An audit filter from a query string, fit for any database (no NUL)."""
    return None if value is None else credentials.shown(value)


def _token_view(row: TokenRow) -> dict[str, Any]:
    return {"id": row.id, "account": row.account, "label": row.label,
            "created_at": row.created_at, "revoked_at": row.revoked_at}
