"""A lean MQTT 5 session for the station: messages arrive in batches, acks follow storage.

The I/O shell around robot_dog.mqtt.wire: one thread owns the socket (plain or TLS) and does
every read and write on it (OpenSSL objects are not safe to read and write from two threads);
other threads hand it bytes through a queue and a wake-up socket pair.

Delivery contract (`on_batch(messages, ack)`): every PUBLISH decoded from one read arrives as
one list, in order, on the I/O thread. QoS 1 messages are acknowledged only when the consumer
calls `ack()` (from any thread), e.g. after the database committed them; the broker keeps the
unacknowledged ones and resends them after a reconnect, so a station crash loses nothing it
was sent (a message stored but not yet acked may be stored twice: at least once). Our Receive
Maximum bounds how many the broker sends ahead of our acks, which is also our back-pressure:
a slow database slows the broker down instead of filling our memory.

Compared with robot_dog.mqtt.client.Link (paho, used by the dogs): no will, no QoS 2, no
per-message callback; publish() is QoS 0/1 and, like Link, does not resend after a reconnect
(commands are signed with a short expiry; the station sends them again if it wants to).
Every subscription is retain-as-published: a message keeps the retain flag its publisher set,
so the station can refuse retained messages where none belong (a captured dog filling the
broker's retained store), not only those replayed at subscribe time.
"""
from __future__ import annotations

import logging
import math
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from robot_dog.mqtt import wire
from robot_dog.mqtt.client import ConnectRefused, Endpoint, wait_for_session
from robot_dog.mqtt.errors import NotConnected

_LOGGER = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 10.0

OnBatch = Callable[[list[wire.Publish], Callable[[], None]], None]


class BatchLink:
    """One MQTT 5 session; `start()` connects on a background thread and keeps reconnecting."""

    def __init__(self, endpoint: Endpoint, *, on_batch: OnBatch,
                 on_connected: Callable[[], None] | None = None,
                 on_disconnected: Callable[[str], None] | None = None,
                 reconnect_s: tuple[float, float] = (1.0, 30.0), receive_maximum: int = 4096,
                 max_packet_bytes: int = 8 * 1024 * 1024) -> None:
        self.endpoint = endpoint
        self._on_batch, self._on_connected, self._on_disconnected = (
            on_batch, on_connected, on_disconnected)
        self.reconnect_s, self.receive_maximum = reconnect_s, receive_maximum
        self.max_packet_bytes = max_packet_bytes
        self._subscriptions: dict[str, tuple[int, bool]] = {}
        self._lock = threading.Lock()          # _outq, _generation, _subscriptions, _next_id
        self._outq: list[bytes] = []
        self._generation = 0                   # +1 per connection: acks of an old one are dropped
        self._next_id = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._refused: str | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{endpoint.client_id}",
                                        daemon=True)
        self._unsubacks: dict[int, threading.Event] = {}
        self._end_session = False
        self.batches = 0
        self.messages = 0
        self.handler_errors = 0  # on_batch raised (its batch stays unacked; the link goes on)
        self.last_message_at = float("-inf")  # time.monotonic() of the last PUBLISH received

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, *, end_session: bool = False) -> None:
        """Clean DISCONNECT and stop the I/O thread. `end_session`: the broker forgets our
        session now (subscriptions, anything still queued for us) instead of keeping it."""
        self._end_session = end_session
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._wake_r.close()
        self._wake_w.close()

    def wait_connected(self, timeout_s: float) -> None:
        wait_for_session(self.endpoint, self._connected, lambda: self._refused, timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- traffic (any thread) ------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 0, *, retain: bool = False,
                expiry_s: float | None = None) -> int:
        """Queue a PUBLISH for the I/O thread; return its packet id (0 for QoS 0)."""
        expiry = None if expiry_s is None else max(1, math.ceil(expiry_s))
        with self._lock:
            if not self._connected.is_set():
                raise NotConnected(f"not connected to {self.endpoint.host}:{self.endpoint.port}")
            packet_id = 0
            if qos:
                self._next_id = self._next_id % 0xFFFF + 1
                packet_id = self._next_id
            self._outq.append(wire.publish(topic, payload, qos, packet_id, retain=retain,
                                           expiry_s=expiry))
        self._wake()
        return packet_id

    def keep_subscribed(self, topic_filter: str, qos: int = 1, *, no_local: bool = False) -> None:
        """Subscribe now if connected and after every reconnect; a refusal is logged."""
        with self._lock:
            self._subscriptions[topic_filter] = (qos, no_local)
            if self._connected.is_set():
                self._outq.append(wire.subscribe(self._take_id(), [(topic_filter, qos, no_local)],
                                                 retain_as_published=True))
        self._wake()

    def unsubscribe(self, topic_filter: str, timeout_s: float = 10.0) -> bool:
        """Stop subscribing; True once the broker confirmed (UNSUBACK) within `timeout_s`."""
        done = threading.Event()
        with self._lock:
            self._subscriptions.pop(topic_filter, None)
            if not self._connected.is_set():
                return True  # nothing to undo now; not renewed on the next connection
            packet_id = self._take_id()
            self._unsubacks[packet_id] = done
            self._outq.append(wire.unsubscribe(packet_id, [topic_filter]))
        self._wake()
        confirmed = done.wait(timeout_s)
        with self._lock:
            self._unsubacks.pop(packet_id, None)
        return confirmed

    def _take_id(self) -> int:  # under _lock
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

    def _ack_later(self, generation: int, packet_ids: list[int]) -> Callable[[], None]:
        def ack() -> None:
            with self._lock:
                if generation != self._generation:
                    return  # that connection is gone; the broker resends those messages
                self._outq.append(wire.pubacks(packet_ids))
            self._wake()
        return ack

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\x00")
        except (BlockingIOError, OSError):
            pass  # already awake (buffer full) or stopping

    # --- I/O thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.reconnect_s[0]
        unreachable_logged = float("-inf")
        while not self._stopping.is_set():
            try:
                sock = self._open()
            except (OSError, wire.ProtocolError, ConnectRefused) as exc:
                now = time.monotonic()
                if isinstance(exc, ConnectRefused) or now - unreachable_logged > 30.0:
                    unreachable_logged = now
                    _LOGGER.warning("cannot connect to %s:%s as %s: %s; retrying",
                                    self.endpoint.host, self.endpoint.port,
                                    self.endpoint.username, exc)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.reconnect_s[1])
                continue
            delay = self.reconnect_s[0]
            reason = "closed"
            try:
                reason = self._serve(sock)
            except (OSError, wire.ProtocolError) as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                with self._lock:
                    self._connected.clear()
                    self._generation += 1
                    self._outq.clear()
                sock.close()
            if not self._stopping.is_set():
                _LOGGER.warning("disconnected from %s:%s: %s", self.endpoint.host,
                                self.endpoint.port, reason)
                if self._on_disconnected:
                    self._on_disconnected(reason)

    def _open(self) -> socket.socket:
        ep = self.endpoint
        sock = socket.create_connection((ep.host, ep.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ep.ca_file is not None:
                context = ssl.create_default_context(cafile=str(ep.ca_file))
                sock = context.wrap_socket(sock, server_hostname=ep.host)
            sock.sendall(wire.connect(
                ep.client_id, username=ep.username, password=ep.password,
                keepalive_s=ep.keepalive_s, clean_start=ep.session_expiry_s <= 0,
                session_expiry_s=ep.session_expiry_s, receive_maximum=self.receive_maximum,
                maximum_packet_size=self.max_packet_bytes))
            decoder = wire.Decoder(self.max_packet_bytes)
            packets: list[wire.Packet] = []
            while not packets:
                data = sock.recv(4096)
                if not data:
                    raise ConnectionError("the broker closed the connection before CONNACK")
                packets = decoder.feed(data)
            connack = packets[0]
            if not isinstance(connack, wire.ConnAck):
                raise wire.ProtocolError(f"expected CONNACK, got {type(connack).__name__}")
            if not connack.ok:
                self._refused = wire.reason_text(connack.reason)
                raise ConnectRefused(self._refused)
            self._refused = None
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._decoder, self._early = decoder, packets[1:]
        return sock

    def _serve(self, sock: socket.socket) -> str:
        ep = self.endpoint
        with self._lock:
            generation = self._generation
            subs = list(self._subscriptions.items())
            if subs:
                self._outq.append(wire.subscribe(self._take_id(), [(f, q, nl) for f, (q, nl) in subs],
                                                 retain_as_published=True))
            self._connected.set()
        _LOGGER.info("connected to %s:%s as %s", ep.host, ep.port, ep.username)
        if self._on_connected:
            self._on_connected()
        pending = bytearray()          # bytes the socket did not take yet
        last_sent = last_heard = time.monotonic()
        self._dispatch(generation, self._early)
        while not self._stopping.is_set():
            with self._lock:
                if self._outq:
                    for chunk in self._outq:
                        pending += chunk
                    self._outq.clear()
            if pending:
                try:
                    sent = sock.send(pending)
                    del pending[:sent]
                    last_sent = time.monotonic()
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            now = time.monotonic()
            if now - last_heard > 1.5 * ep.keepalive_s:
                return f"nothing from the broker for {now - last_heard:.0f} s"
            if now - last_sent >= ep.keepalive_s / 2 and not pending:
                pending += wire.PINGREQ_BYTES
                continue
            timeout = max(0.0, min(ep.keepalive_s / 2 - (now - last_sent), 1.0))
            readable, _, _ = select.select([sock, self._wake_r], [sock] if pending else [], [],
                                           0.0 if isinstance(sock, ssl.SSLSocket) and sock.pending()
                                           else timeout)
            if self._wake_r in readable:
                try:
                    self._wake_r.recv(4096)
                except BlockingIOError:
                    pass
            if sock in readable or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                try:
                    data = sock.recv(READ_BYTES)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                if not data:
                    return "the broker closed the connection"
                if isinstance(sock, ssl.SSLSocket):
                    data = _read_on(sock, data)
                last_heard = time.monotonic()
                done = self._dispatch(generation, self._decoder.feed(data))
                if done:
                    return done
        with self._lock:  # what was queued up to now (e.g. the last acks) goes out first
            for chunk in self._outq:
                pending += chunk
            self._outq.clear()
        goodbye = wire.DISCONNECT_ENDING_SESSION if self._end_session else wire.DISCONNECT_BYTES
        try:
            sock.setblocking(True)
            sock.settimeout(2.0)
            sock.sendall(bytes(pending) + goodbye)
        except OSError:
            pass
        return "stopped"

    def _dispatch(self, generation: int, packets: list[wire.Packet]) -> str | None:
        """Hand the PUBLISHes over as one batch; returns a reason if the broker hung up."""
        batch: list[wire.Publish] = []
        for p in packets:
            if type(p) is wire.Publish:
                batch.append(p)
            elif type(p) is wire.SubAck:
                failed = [c for c in p.reasons if c >= 0x80]
                if failed:
                    _LOGGER.warning("broker refused a subscription of %s: %s",
                                    self.endpoint.username, wire.reason_text(failed[0]))
            elif type(p) is wire.UnsubAck:
                with self._lock:
                    waiter = self._unsubacks.get(p.packet_id)
                if waiter is not None:
                    waiter.set()
            elif type(p) is wire.Disconnect:
                text = wire.reason_text(p.reason)
                return f"{text} ({p.reason_string})" if p.reason_string else text
            elif type(p) is wire.ConnAck:
                raise wire.ProtocolError("a second CONNACK")
            # PubAck (our QoS 1 publishes) and PingResp need nothing beyond being heard.
        if batch:
            self.last_message_at = time.monotonic()
            ids = [p.packet_id for p in batch if p.qos]
            self.batches += 1
            self.messages += len(batch)
            try:
                self._on_batch(batch, self._ack_later(generation, ids) if ids else _nothing)
            except Exception:
                self.handler_errors += 1
                _LOGGER.exception("a batch of %d message(s) could not be handled (#%d)",
                                  len(batch), self.handler_errors)
        return None


def _nothing() -> None:
    pass


def _read_on(sock: ssl.SSLSocket, first: bytes) -> bytes:
    """`first` and whatever else the TLS socket holds now, up to READ_BYTES. One recv returns
    one TLS record, and the broker writes each message to us as a record of its own: read
    alone, every message would be a batch, an after-commit callback and a PUBACK write of its
    own. Reading on until the socket is empty makes one batch of what arrived meanwhile."""
    chunks, size = [first], len(first)
    while size < READ_BYTES:
        try:
            more = sock.recv(READ_BYTES - size)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        if not more:
            break  # closed: the next recv says so
        chunks.append(more)
        size += len(more)
    return b"".join(chunks) if len(chunks) > 1 else first
