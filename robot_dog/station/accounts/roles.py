"""Who may do what: one table of action -> roles, used by every route of the station.

Roles (docs/security.md): a viewer watches and listens; an operator also commands the dogs
(drive, payload, announcements, talk, e-stop and release); a commander also dispatches and reads
the audit log; an admin also manages accounts and tokens and exports evidence. An officer is a
person paired to dogs from a handheld: at the station an officer account may log in and keep
its own tokens, nothing more until pairings name the dogs it is limited to.
"""
from __future__ import annotations

from robot_dog.station.accounts.errors import BadRole

ROLES: tuple[str, ...] = ("viewer", "operator", "commander", "admin", "officer")

_WATCHERS = frozenset({"viewer", "operator", "commander", "admin"})
_OPERATORS = frozenset({"operator", "commander", "admin"})

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
    "dispatch": frozenset({"commander", "admin"}),
    "audit": frozenset({"commander", "admin"}),
    "own_tokens": frozenset(ROLES),          # create, list, revoke one's own API tokens
    "accounts": frozenset({"admin"}),        # add, disable, change role, reset password
    "tokens": frozenset({"admin"}),          # anyone's tokens
    "evidence_export": frozenset({"admin"}),
}

#: Verbs that are their own action (an operator may e-stop; a future role may only e-stop).
VERB_ACTIONS: dict[str, str] = {"estop": "estop", "estop_release": "estop",
                                # an officer's task is part of a dispatch (an incident)
                                "task": "dispatch"}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRole(f"unknown role {role[:32]!r}: one of {', '.join(ROLES)}")
    return role


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action`; an action missing from the table is refused to all."""
    return role in ACTIONS.get(action, frozenset())


def command_action(verb: str) -> str:
    return VERB_ACTIONS.get(verb, "command")
