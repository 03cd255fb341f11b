"""The accounts' tables (accounts, sessions, api_tokens, pairings, audit) on SQLite or PostgreSQL.

Plain reads and writes, each committed before it returns, on one connection of its own under a
lock (the batched telemetry writer is no place for a login: it must hold before the answer).
The policy (who may log in, timeouts, lockouts) lives in robot_dog.station.accounts; this module
only stores. The audit table is only ever inserted into and read: `AUDIT_SQL` lists every
statement that touches it, and a test checks no other does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from robot_dog.station.storage.direct import DirectTables

_AUDIT_INSERT = ("INSERT INTO audit (at, kind, actor, target, address, ok, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")
_AUDIT_SELECT = ("SELECT id, at, kind, actor, target, address, ok, detail FROM audit "
                 "WHERE id < ? {where} ORDER BY id DESC LIMIT ?")
#: Every statement on the audit table: one insert, one select. Append-only.
AUDIT_SQL = (_AUDIT_INSERT, _AUDIT_SELECT)


@dataclass(frozen=True)
class AccountRow:
    name: str
    role: str
    password_hash: str | None
    disabled: bool
    created_at: float


@dataclass(frozen=True)
class SessionRow:
    digest: str
    account: str
    address: str
    created_at: float
    last_seen: float


@dataclass(frozen=True)
class TokenRow:
    id: str
    account: str
    label: str
    created_at: float
    revoked_at: float | None


class AccountTables(DirectTables):
    """Storage of accounts, sessions, tokens and the audit log (`target`: SQLite file or
    postgresql:// URL, the station's --db; the tables are created if missing)."""

    def _count(self, text: str, params: tuple[Any, ...]) -> int:
        """Run a write and return how many rows it changed."""
        return self._execute(text, params)[1]

    # accounts
    def add_account(self, name: str, role: str, password_hash: str | None, now: float) -> bool:
        """False if the name is taken."""
        return self._count("INSERT INTO accounts (name, role, password_hash, disabled, created_at) "
                           "VALUES (?, ?, ?, 0, ?) ON CONFLICT (name) DO NOTHING",
                           (name, role, password_hash, now)) == 1

    def account(self, name: str) -> AccountRow | None:
        rows = self._run("SELECT name, role, password_hash, disabled, created_at FROM accounts "
                         "WHERE name = ?", (name,))
        return AccountRow(rows[0][0], rows[0][1], rows[0][2], bool(rows[0][3]), rows[0][4]) \
            if rows else None

    def accounts(self) -> list[AccountRow]:
        rows = self._run("SELECT name, role, password_hash, disabled, created_at FROM accounts "
                         "ORDER BY name")
        return [AccountRow(n, r, h, bool(d), c) for n, r, h, d, c in rows]

    def set_password_hash(self, name: str, password_hash: str) -> bool:
        return self._count("UPDATE accounts SET password_hash = ? WHERE name = ?",
                           (password_hash, name)) == 1

    def set_role(self, name: str, role: str) -> bool:
        return self._count("UPDATE accounts SET role = ? WHERE name = ?", (role, name)) == 1

    def set_disabled(self, name: str, disabled: bool) -> bool:
        return self._count("UPDATE accounts SET disabled = ? WHERE name = ?",
                           (int(disabled), name)) == 1

    def set_role_unless_last_admin(self, name: str, role: str) -> bool | None:
        """Change the role in one statement that keeps an enabled admin other than `name`:
        True changed, False no such account, None refused (it would leave no enabled admin).
        One statement, so SQLite (one writer at a time) never lets two admins demoting each
        other both win; on PostgreSQL two station workers at that same instant could."""
        return self._guarded("UPDATE accounts SET role = ? WHERE name = ?", (role, name), name,
                             keeps_admin=role == "admin")

    def disable_unless_last_admin(self, name: str) -> bool | None:
        """Disable, in one statement, unless it is the last enabled admin (as above)."""
        return self._guarded("UPDATE accounts SET disabled = 1 WHERE name = ?", (name,), name,
                             keeps_admin=False)

    def _guarded(self, update: str, params: tuple[Any, ...], name: str, *,
                 keeps_admin: bool) -> bool | None:
        if self.account(name) is None:
            return False
        if keeps_admin:
            return self._count(update, params) == 1
        changed = self._count(
            f"{update} AND (role <> 'admin' OR disabled = 1 OR EXISTS (SELECT 1 FROM accounts "
            "AS other WHERE other.role = 'admin' AND other.disabled = 0 AND other.name <> ?))",
            (*params, name))
        return True if changed == 1 else None

    # sessions (kept by the digest of their id)
    def add_session(self, row: SessionRow) -> None:
        self._run("INSERT INTO sessions (digest, account, address, created_at, last_seen) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (row.digest, row.account, row.address, row.created_at, row.last_seen))

    def session(self, digest: str) -> SessionRow | None:
        rows = self._run("SELECT digest, account, address, created_at, last_seen FROM sessions "
                         "WHERE digest = ?", (digest,))
        return SessionRow(*rows[0]) if rows else None

    def touch_session(self, digest: str, now: float) -> None:
        self._run("UPDATE sessions SET last_seen = ? WHERE digest = ?", (now, digest))

    def end_session(self, digest: str) -> int:
        return self._count("DELETE FROM sessions WHERE digest = ?", (digest,))

    def end_sessions_of(self, account: str) -> int:
        return self._count("DELETE FROM sessions WHERE account = ?", (account,))

    def end_sessions_before(self, cutoff_created: float, cutoff_seen: float) -> int:
        """Forget sessions past their absolute or idle timeout (they are refused anyway)."""
        return self._count("DELETE FROM sessions WHERE created_at < ? OR last_seen < ?",
                           (cutoff_created, cutoff_seen))

    def sessions_of(self, account: str) -> list[SessionRow]:
        rows = self._run("SELECT digest, account, address, created_at, last_seen FROM sessions "
                         "WHERE account = ? ORDER BY created_at", (account,))
        return [SessionRow(*r) for r in rows]

    # API tokens (kept by the digest of the secret; `id` is public, shown in lists)
    def add_token(self, token_id: str, digest: str, account: str, label: str, now: float) -> None:
        self._run("INSERT INTO api_tokens (id, digest, account, label, created_at) "
                  "VALUES (?, ?, ?, ?, ?)", (token_id, digest, account, label, now))

    def token_by_digest(self, digest: str) -> TokenRow | None:
        rows = self._run("SELECT id, account, label, created_at, revoked_at FROM api_tokens "
                         "WHERE digest = ?", (digest,))
        return TokenRow(*rows[0]) if rows else None

    def token(self, token_id: str) -> TokenRow | None:
        rows = self._run("SELECT id, account, label, created_at, revoked_at FROM api_tokens "
                         "WHERE id = ?", (token_id,))
        return TokenRow(*rows[0]) if rows else None

    def tokens(self, account: str | None = None) -> list[TokenRow]:
        where, params = ("WHERE account = ?", (account,)) if account is not None else ("", ())
        rows = self._run("SELECT id, account, label, created_at, revoked_at FROM api_tokens "
                         f"{where} ORDER BY created_at, id", params)
        return [TokenRow(*r) for r in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        return self._count("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at "
                           "IS NULL", (now, token_id)) == 1

    # pairings: which officer each dog's handheld pairing code was issued to (one per dog)
    def set_pairing(self, dog: str, officer: str, issued_by: str, now: float) -> None:
        self._run("INSERT INTO pairings (dog, officer, issued_by, issued_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (dog) DO UPDATE SET officer = excluded.officer, "
                  "issued_by = excluded.issued_by, issued_at = excluded.issued_at",
                  (dog, officer, issued_by, now))

    def end_pairing(self, dog: str) -> str | None:
        """Forget the dog's pairing; the officer it named (None: there was none)."""
        rows = self._run("SELECT officer FROM pairings WHERE dog = ?", (dog,))
        self._run("DELETE FROM pairings WHERE dog = ?", (dog,))
        return str(rows[0][0]) if rows else None

    def dogs_of(self, officer: str) -> frozenset[str]:
        return frozenset(r[0] for r in self._run("SELECT dog FROM pairings WHERE officer = ?",
                                                 (officer,)))

    def pairings(self) -> list[dict[str, Any]]:
        rows = self._run("SELECT dog, officer, issued_by, issued_at FROM pairings ORDER BY dog")
        return [dict(zip(("dog", "officer", "issued_by", "issued_at"), r)) for r in rows]

    # audit: append and read, nothing else
    def append_audit(self, at: float, kind: str, actor: str, target: str, address: str,
                     ok: bool, detail: dict[str, Any]) -> None:
        self._run(_AUDIT_INSERT, (at, kind, actor, target, address, int(ok),
                                  json.dumps(detail, ensure_ascii=False)))

    def audit(self, limit: int = 100, *, before_id: int | None = None, kind: str | None = None,
              actor: str | None = None, target: str | None = None, since: float | None = None,
              until: float | None = None) -> list[dict[str, Any]]:
        """The newest audit lines first, `limit` of them before `before_id` (the paging
        cursor: the smallest id of the page before), filtered by exact kind, actor, target and
        by time (`since` <= at < `until`, s since the epoch)."""
        where = ""
        params: list[Any] = [before_id if before_id is not None else 2 ** 62]
        for clause, value in (("kind = ?", kind), ("actor = ?", actor), ("target = ?", target),
                              ("at >= ?", since), ("at < ?", until)):
            if value is not None:
                where += f" AND {clause}"
                params.append(value)
        rows = self._run(_AUDIT_SELECT.format(where=where), (*params, limit))
        keys = ("id", "at", "kind", "actor", "target", "address", "ok", "detail")
        out = []
        for row in rows:
            item = dict(zip(keys, row))
            item["ok"], item["detail"] = bool(item["ok"]), json.loads(item["detail"])
            out.append(item)
        return out
