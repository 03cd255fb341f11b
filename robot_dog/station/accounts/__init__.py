"""The station's people: accounts with roles, sessions, API tokens, lockouts and the audit log.

Framework-neutral: no HTTP server in here. `access.Accounts` is what a web layer calls (its
docstring lists the calls); `roles` is the one table of who may do what; `credentials` says
what a name, a password and a secret are and how each is kept; `errors` the refusals, each
with a stable code and an HTTP status. The tables live in robot_dog.station.storage.accounts.
"""
from robot_dog.station.accounts.access import (Accounts, NewSession, NewToken, Principal,
                                               local_admin)
from robot_dog.station.accounts.errors import AccountError
from robot_dog.station.accounts.roles import ACTIONS, ROLES, allowed, command_action

__all__ = ["ACTIONS", "ROLES", "AccountError", "Accounts", "NewSession", "NewToken", "Principal",
           "allowed", "command_action", "local_admin"]
