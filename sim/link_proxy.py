"""MQTT link faults: a loopback TCP proxy between the dog's uplink and the broker.

Point the uplink at the proxy's port instead of the broker's; the proxy forwards bytes both ways
through `LinkFaults`, changed live from tests or a scenario:

- `delay_s`: one-way latency added to every chunk (each direction);
- `loss_rate`: share of chunks "lost"; TCP never loses bytes, it retransmits, so a lost chunk
  arrives `retransmit_s` late (and holds back what follows, as TCP's in-order delivery does);
- `bandwidth_bps`: cap of each direction in bytes/s (0 = none); chunks queue behind it;
- `outage(seconds)`: every connection is cut now and new ones are refused until it ends.

`ChunkTimer` is the pure part (when may this chunk leave?), tested with a fake clock; the proxy
around it is threads and sockets on 127.0.0.1 only.
"""
from __future__ import annotations

import logging
import random
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)


@dataclass
class LinkFaults:
    delay_s: float = 0.0
    loss_rate: float = 0.0
    retransmit_s: float = 0.2
    bandwidth_bps: float = 0.0

    def validate(self) -> None:
        if not (0 <= self.delay_s <= 60 and 0 <= self.loss_rate <= 1 and 0 < self.retransmit_s <= 60
                and self.bandwidth_bps >= 0):
            raise ValueError(f"link faults out of range: {self}")


class ChunkTimer:
    """Release times of one direction's chunks, in order (sans-I/O: `now` comes in)."""

    def __init__(self, faults: LinkFaults, rng: random.Random) -> None:
        self.faults, self.rng = faults, rng
        self._last_release = 0.0
        self._link_free_at = 0.0

    def release_at(self, now: float, size: int) -> float:
        f = self.faults
        at = now + f.delay_s
        if f.loss_rate and self.rng.random() < f.loss_rate:
            at += f.retransmit_s
        if f.bandwidth_bps > 0:
            start = max(now, self._link_free_at)
            self._link_free_at = start + size / f.bandwidth_bps
            at = max(at, self._link_free_at + f.delay_s)
        at = max(at, self._last_release)   # TCP delivers in order
        self._last_release = at
        return at


class LinkProxy:
    def __init__(self, upstream_port: int, faults: LinkFaults | None = None, port: int = 0,
                 seed: int = 0) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.faults = faults or LinkFaults()
        self.faults.validate()
        self._rng = random.Random(seed)
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._outage_until = 0.0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0
        self.refused = 0
        self.bytes = {"up": 0, "down": 0}

    def start(self) -> "LinkProxy":
        threading.Thread(target=self._accept_loop, name="link-proxy", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._cut_all()

    def outage(self, seconds: float) -> None:
        """Cut every connection now; refuse new ones for `seconds`."""
        self._outage_until = time.monotonic() + seconds
        _LOGGER.warning("link outage for %.1f s", seconds)
        self._cut_all()

    @property
    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    def _cut_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.in_outage:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError as exc:
                _LOGGER.warning("broker unreachable: %s", exc)
                client.close()
                continue
            self.connections += 1
            with self._lock:
                self._sockets |= {client, upstream}
            for src, dst, key in ((client, upstream, "up"), (upstream, client, "down")):
                timer = ChunkTimer(self.faults, random.Random(self._rng.random()))
                threading.Thread(target=self._pump, args=(src, dst, key, timer), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, key: str, timer: ChunkTimer) -> None:
        queue: deque[tuple[float, bytes]] = deque()
        try:
            while not self._stop.is_set():
                wait = max(0.0, queue[0][0] - time.monotonic()) if queue else 0.5
                ready, _, _ = select.select([src], [], [], min(wait, 0.5))
                if ready:
                    data = src.recv(65536)
                    if not data:
                        break
                    queue.append((timer.release_at(time.monotonic(), len(data)), data))
                while queue and queue[0][0] <= time.monotonic():
                    _, data = queue.popleft()
                    dst.sendall(data)
                    self.bytes[key] += len(data)
        except (OSError, ValueError):
            pass   # cut by an outage, or the other side went away
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
