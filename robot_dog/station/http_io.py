"""Socket plumbing of the station's HTTP server: deadlines on reads and writes, a peer that
left, and a threading server whose connections are admitted by `slots.ConnectionSlots`.

Why: a socket timeout is per read, so a client trickling one byte every few seconds never
hits it (slowloris), and a stream that writes nothing never learns that its client left.
Here a request has one deadline for all of it (line, headers, body), every write has its own,
and a stream can ask whether its client closed the connection.
"""
from __future__ import annotations

import io
import logging
import select
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any, cast

from robot_dog.log_rate import worth_a_line
from robot_dog.station.slots import ConnectionSlots

_LOGGER = logging.getLogger(__name__)


class DeadlineReader(io.RawIOBase):
    """Reads from `sock` until `deadline` (time.monotonic(), s), then TimeoutError: the
    whole request must be in by then, however its bytes are spread out."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class DeadlineWriter(io.BufferedIOBase):
    """Each write (a response, or one frame of a stream) must leave within `timeout_s`, or
    TimeoutError: a client that stops reading cannot hold its thread."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        super().__init__()
        self._sock, self._timeout_s = sock, timeout_s

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(self._timeout_s)
        self._sock.sendall(data)   # one deadline for the whole call (Python >= 3.5)
        with memoryview(data) as view:
            return view.nbytes

    def fileno(self) -> int:
        return self._sock.fileno()


_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def peer_closed(sock: socket.socket) -> bool:
    """True if the client closed or reset the connection (never blocks). A client that sent
    more bytes is still there."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | _GONE)
        events = poller.poll(0)
        if not events:
            return False
        if events[0][1] & _GONE:
            return True
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or already closed here
        return True


class AdmittingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose connections are admitted by `slots` (see station/slots.py):
    bounded threads, the longest-reading connection evicted for a new one, routes by kind."""
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, slots: ConnectionSlots) -> None:
        super().__init__(address, handler)
        self.slots, self._lock = slots, threading.Lock()
        self.refused_connections = self.evicted_connections = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            admission = self.slots.connect(request)
        if not admission.admitted:
            self.refused_connections += 1
            if worth_a_line(self.refused_connections):
                _LOGGER.warning("http: %d connections busy, refused one from %s (#%d)",
                                self.slots.connections, client_address[0],
                                self.refused_connections)
            self.shutdown_request(request)
            return
        if admission.evict is not None:
            self.evicted_connections += 1
            if worth_a_line(self.evicted_connections):
                _LOGGER.warning("http: %d connections open, closed the one that has been "
                                "sending its request longest (#%d)", self.slots.connections,
                                self.evicted_connections)
            try:  # wakes its thread's read with end-of-file; that thread closes it
                cast(socket.socket, admission.evict).shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.release(request)

    def route(self, request: Any, kind: str) -> str | None:
        with self._lock:
            return self.slots.route(request, kind)

    def release(self, request: Any) -> None:
        with self._lock:
            self.slots.close(request)
