"""broker/passwd: every dog's and station user's password, hashed by mosquitto_passwd."""
from __future__ import annotations

import shutil
import subprocess

from robot_dog.fleet.files import _write_secret
from robot_dog.fleet.layout import Fleet, FleetError


def _write_passwd(fleet: Fleet) -> None:
    """Rebuild broker/passwd from each client's own password file, hashed by mosquitto_passwd.

    The plain text goes through a 0600 file and `mosquitto_passwd -U` (hash in place), never
    through a command line where `ps` would show it.
    """
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise FleetError("mosquitto_passwd not found (Debian package mosquitto)")
    names = [*fleet.dogs, *fleet.users]
    plain = "".join(f"{name}:{fleet.password(name)}\n" for name in names).encode()
    tmp = fleet.paths.passwd.with_name("passwd.tmp")
    _write_secret(tmp, plain)
    try:
        done = subprocess.run([tool, "-U", str(tmp)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise FleetError(f"mosquitto_passwd -U failed: {done.stderr.strip() or done.stdout.strip()}")
        hashed = tmp.read_bytes()
        if any(line and not line.split(b":", 1)[1].startswith(b"$") for line in hashed.splitlines()):
            raise FleetError("mosquitto_passwd left a password unhashed")
        _write_secret(fleet.paths.passwd, hashed)
    finally:
        tmp.unlink(missing_ok=True)
