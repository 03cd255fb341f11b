"""An old fleet's shared operator token (FLEET/station/operator.token) met at the station's start.

Fleets made before accounts had one bearer token for everyone. New fleets have none. The station
never adopts the file on its own: a secret that silently becomes an admin credential at every
start is how a forgotten copy turns into a way in. Like a database server that finds an old
data directory and names the upgrade command instead of converting it behind the admin's back,
the station runs without the token (every request with it gets 401) and says, at every start
until the file is dealt with, what to do: `robot-dog station migrate` (the admin's explicit
choice, audited), or accounts and per-person API tokens and the file deleted.
"""
from __future__ import annotations

from pathlib import Path

from robot_dog.station.accounts import credentials
from robot_dog.station.accounts.access import Accounts


def legacy_token_notice(accounts: Accounts, path: Path, db: str | Path) -> str | None:
    """What the admin must hear about an old shared token file at `path` (None: no file)."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: an old fleet's shared operator token, not readable ({exc.strerror}); " \
               "it is not accepted. Delete the file."
    row = accounts.tables.token_by_digest(credentials.digest(token)) if token else None
    if row is not None:
        state = "revoked" if row.revoked_at is not None else "live"
        return (f"{path}: the old shared operator token was migrated (API token {row.id} of "
                f"{row.account!r}, {state}); delete the file once no script sends it "
                f"(revoke: robot-dog station token revoke {row.id} --db {db})")
    return (f"{path}: an old fleet's shared operator token; the station does not accept it "
            f"(requests with it get 401). To keep scripts working, make it an admin API token: "
            f"robot-dog station migrate --fleet {path.parent.parent} --db {db} ; or give "
            "each person an account (robot-dog station user add) and delete the file "
            "(docs/security.md, \"From the shared operator token\")")
