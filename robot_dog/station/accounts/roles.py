"""Who may do what: one table of action -> roles, used by every route of the station.

Roles (docs/security.md): a viewer watches and listens; an operator also commands the dogs
(drive, payload, announcements, talk, e-stop and release); a commander also dispatches and reads
the audit log; an admin also manages accounts and tokens and exports evidence. An officer is a
person paired to dogs from a handheld: an operator's rights, limited to the dogs whose handheld
pairing code was issued to that officer (`SCOPED_ROLES`; the station's pairing record says which,
Accounts.authorize checks it on every request and live message about a dog).
"""
from __future__ import annotations

from robot_dog.station.accounts.errors import BadRole

ROLES: tuple[str, ...] = ("viewer", "operator", "commander", "admin", "officer")

_WATCHERS = frozenset({"viewer", "operator", "commander", "admin", "officer"})
_OPERATORS = frozenset({"operator", "commander", "admin", "officer"})
#: Roles whose dog actions reach only the dogs paired to the account (robot_dog/station/
#: accounts/access.py); a list of dogs shows them only theirs.
SCOPED_ROLES = frozenset({"officer"})

#: action -> the roles allowed it. A route names its action; nothing else decides.
ACTIONS: dict[str, frozenset[str]] = {
    "page": frozenset(ROLES),                # the page itself (its login form; no data)
    "session": frozenset(ROLES),             # log in, see one's own session, log out
    "watch": _WATCHERS,                      # fleet, telemetry, events, command log, video
    "listen": _WATCHERS,                     # the dog's microphone
    "command": _OPERATORS,                   # every verb: drive, payload, announce, talk window
    "estop": _OPERATORS,                     # e-stop and release (verbs `estop`, `release`)
    "talk": _OPERATORS,                      # push-to-talk voice
    "acknowledge": _OPERATORS,               # acknowledge an alarm (who and when are stored)
    # issue a handheld pairing code to a named officer, or revoke a lost phone
    "pair": frozenset({"operator", "commander", "admin"}),
    "dispatch": frozenset({"commander", "admin"}),
    "audit": frozenset({"commander", "admin"}),
    "own_tokens": frozenset(ROLES),          # create, list, revoke one's own API tokens
    "accounts": frozenset({"admin"}),        # add, disable, change role, reset password
    "tokens": frozenset({"admin"}),          # anyone's tokens
    "evidence_export": frozenset({"admin"}),
}

#: Actions about one dog: for SCOPED_ROLES, only a dog paired to the account.
DOG_ACTIONS = frozenset({"watch", "listen", "command", "estop", "talk", "acknowledge"})

#: Verbs that are their own action (an operator may e-stop; a future role may only e-stop).
VERB_ACTIONS: dict[str, str] = {"estop": "estop", "estop_release": "estop",
                                # an officer's task is part of a dispatch (an incident)
                                "task": "dispatch",
                                # who holds the handheld is decided at the station, not by it
                                "pair_handheld": "pair", "revoke_handheld": "pair"}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRole(f"unknown role {role[:32]!r}: one of {', '.join(ROLES)}")
    return role


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action`; an action missing from the table is refused to all."""
    return role in ACTIONS.get(action, frozenset())


def command_action(verb: str) -> str:
    return VERB_ACTIONS.get(verb, "command")
