"""The accounts' refusals: one root, a stable snake_case `code` each and the HTTP status the web
layer answers with (any framework: the status is data, not an exception class of its own)."""
from __future__ import annotations


class AccountError(Exception):
    """A refusal of the accounts core; `code` is stable, the message is for people."""
    code = "account_error"
    status = 400

    def __init__(self, message: str, *, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BadCredentials(AccountError):
    """Unknown name, wrong password, disabled account: one answer, so none is told apart."""
    code, status = "bad_credentials", 401


class LockedOut(AccountError):
    code, status = "locked_out", 429


class NotAuthenticated(AccountError):
    code, status = "not_authenticated", 401


class SessionExpired(AccountError):
    code, status = "session_expired", 401


class CsrfRefused(AccountError):
    code, status = "csrf_refused", 403


class Forbidden(AccountError):
    code, status = "forbidden", 403


class BadName(AccountError):
    code, status = "bad_name", 400


class BadPassword(AccountError):
    code, status = "bad_password", 400


class BadRole(AccountError):
    code, status = "bad_role", 400


class UnknownAccount(AccountError):
    code, status = "unknown_account", 404


class AccountExists(AccountError):
    code, status = "account_exists", 409


class UnknownToken(AccountError):
    code, status = "unknown_token", 404


class MigrationRefused(AccountError):
    code, status = "migration_refused", 400


class LastAdmin(AccountError):
    """The change would leave the station without an enabled admin (nobody could manage its
    accounts from the console any more)."""
    code = "last_admin"
    status = 409


class DogNotPaired(AccountError):
    """An officer asked about a dog no pairing of theirs names."""
    code = "dog_not_paired"
    status = 403


class UnknownOfficer(AccountError):
    """A pairing code for a name that is not an enabled officer or operator account."""
    code = "unknown_officer"
    status = 400
