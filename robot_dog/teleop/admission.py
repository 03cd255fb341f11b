"""Who may talk to the handheld server (pure; `now` in s from a monotonic clock).

- Host: only the names the page is served under (the certificate's names, the bound address,
  loopback), with no port or this server's port: a DNS-rebinding page cannot reach it.
- Origin: the WebSocket only for the page's own origin (`scheme://Host`), so no other web page
  the phone opens can drive or pair.
- Connections: at most `per_client` WebSockets per client address and `max_connections` in all;
  at the total cap a new one replaces the longest-open unpaired one, so a flood from many
  addresses cannot keep the officer out. An unpaired connection that sends no frame for
  `idle_s` is closed (the paired page beats at 10 Hz; a dead peer fails the WebSocket ping).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from robot_dog.teleop.errors import HandheldRefused

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for a loopback address or `localhost` (plain HTTP is allowed only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_names(bind_host: str, cert_names: Iterable[str] = ()) -> frozenset[str]:
    """The host names a request may name: loopback, the bound address (unless a wildcard) and
    the certificate's subject alternative names (the addresses the officer's phone uses)."""
    names = {*LOOPBACK_NAMES, *(n.lower() for n in cert_names)}
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(bind_host.lower())
    return frozenset(names)


def check_host(host: str | None, names: frozenset[str], port: int) -> None:
    """HandheldRefused unless the Host header names this server."""
    if not host:
        raise HandheldRefused("bad_host", "no Host header")
    value = host.strip().lower()
    if value.startswith("["):                          # [v6] or [v6]:port
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else None if not rest else "bad"
    else:
        name, sep, port_text = value.partition(":")
        port_text = port_text if sep else None
    if name not in names or (port_text is not None and port_text != str(port)):
        raise HandheldRefused("bad_host", "Host is not one this server answers to")


def check_origin(origin: str | None, host: str, scheme: str) -> None:
    """HandheldRefused unless the WebSocket comes from the page's own origin."""
    if origin is None or origin.strip().lower() != f"{scheme}://{host.strip().lower()}":
        raise HandheldRefused("bad_origin", "the WebSocket is only for the handheld page's own origin")


@dataclass
class ConnectionTable:
    """The open WebSockets: who they are from, when each was last heard, which one is paired."""
    max_connections: int = 32
    per_client: int = 4
    idle_s: float = 15.0
    _open: dict[Hashable, tuple[str, float, float]] = field(init=False, default_factory=dict)
    _paired: Hashable | None = field(init=False, default=None)

    def admit(self, conn: Hashable, client: str, now: float) -> Hashable | None:
        """Registers `conn`; returns a connection to close to make room (or None), or raises
        HandheldRefused when `client` already has `per_client` open."""
        if sum(1 for c, _, _ in self._open.values() if c == client) >= self.per_client:
            raise HandheldRefused("client_connection_cap",
                                  f"more than {self.per_client} connections from one client")
        evict = None
        if len(self._open) >= self.max_connections:
            unpaired = [(opened, k) for k, (_, opened, _) in self._open.items() if k != self._paired]
            if not unpaired:
                raise HandheldRefused("connection_cap", f"more than {self.max_connections} connections")
            evict = min(unpaired, key=lambda item: item[0])[1]
            self._open.pop(evict)
        self._open[conn] = (client, now, now)
        return evict

    def heard(self, conn: Hashable, now: float) -> None:
        if conn in self._open:
            client, opened, _ = self._open[conn]
            self._open[conn] = (client, opened, now)

    def paired(self, conn: Hashable | None) -> None:
        self._paired = conn

    def close(self, conn: Hashable) -> None:
        self._open.pop(conn, None)
        if self._paired == conn:
            self._paired = None

    def idle(self, now: float) -> list[Hashable]:
        """Unpaired connections not heard for `idle_s` (the caller closes them)."""
        return [k for k, (_, _, heard) in self._open.items()
                if k != self._paired and now - heard > self.idle_s]

    def __len__(self) -> int:
        return len(self._open)
