"""Listening ports on 127.0.0.1 for the demo and the station: free or not, said in one line.

Every listener of ours binds with SO_REUSEADDR (http.server and mosquitto do), so connections of
a stopped run that linger in TIME-WAIT (a browser tab's) never block a restart on the same port;
only a live listener does. A port moves only when asked: port 0 means "any free port".
"""
from __future__ import annotations

import errno
import socket

HOST = "127.0.0.1"


def bind_problem(port: int, host: str = HOST) -> str | None:
    """Why a listener of ours could not bind `port` now (None: it could), probed as it binds."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def any_free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (what port 0 asks for, when it must be known early)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def in_use(what: str, port: int, option: str, reason: str = "already in use") -> str:
    """The one line a command prints when its port is taken, naming the fix."""
    return (f"{what} port {port} on {HOST}: {reason}; stop the program that listens there "
            f"(`ss -ltnp 'sport = :{port}'` names it) or choose another with {option} N "
            "(0: any free port)")


def is_in_use(exc: OSError) -> bool:
    return exc.errno in (errno.EADDRINUSE, errno.EACCES)
