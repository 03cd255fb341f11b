"""Thin paho-mqtt 2.x adapter: one MQTT 5 session over TLS with credentials (docs/mqtt.md).

Kept small on purpose (paho's own client.py is the counter-example): connection settings in,
callbacks out, no policy. Policy lives in the pure parts: what to publish (topics, schema),
when to remove a queued message (forwarder on `on_acked`), what to trust (signing).

Callbacks run on paho's network thread; keep them short (hand work to the node's executor).
An exception escaping a callback would end that thread (paho re-raises it), leaving a session
that looks connected but hears and sends nothing: every callback is guarded, the exception
counted in `Link.callback_errors` and logged (with its traceback the first time per kind).
  on_connected()                       session up; subscriptions were renewed
  on_disconnected(reason: str)         session lost; paho reconnects with backoff
  on_message(topic: str, payload: bytes)
  on_acked(mid: int, ok: bool, reason: str)   PUBACK for QoS 1 (ok False: broker refused,
                                       e.g. "Not authorized"); QoS 0: written to the socket
"""
from __future__ import annotations

import logging
import math
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from robot_dog.log_rate import worth_a_line
from robot_dog.mqtt import topics
from robot_dog.mqtt.errors import MqttLinkError, NotConnected

_LOGGER = logging.getLogger(__name__)

__all__ = ["Endpoint", "Will", "Link", "LinkError", "ConnectRefused", "LinkTimeout",
           "SubscribeRefused", "NotConnected", "status_will"]


class LinkError(MqttLinkError):
    """The broker session failed."""


class ConnectRefused(LinkError):
    """The broker answered CONNACK with a failure (bad credentials, not authorized, ...)."""


class LinkTimeout(LinkError):
    """No answer before the deadline."""


class SubscribeRefused(LinkError):
    """SUBACK carried a failure code (ACL)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    client_id: str
    ca_file: Path | None = None  # None: plain TCP (loopback debugging only)
    # A client certificate for the fleet's certificate listener (CN = user name, no password).
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    # > 0: a persistent session (clean_start off): the broker keeps our subscriptions and queues
    # QoS 1 messages for us while we are away (station: nothing lost across its reconnects).
    session_expiry_s: int = 0


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def status_will(dog: str) -> Will:
    """The dog's Last Will: retained "offline" on its status topic."""
    return Will(topics.status(dog), topics.OFFLINE)


#: How often a waiter looks for a refusal (s): a refused login is reported within this of its
#: CONNACK, not at the caller's deadline.
REFUSAL_POLL_S = 0.05


def wait_for_session(endpoint: Endpoint, connected: threading.Event,
                     refused: Callable[[], str | None], timeout_s: float) -> None:
    """Wait for `connected`; ConnectRefused naming the broker's reason as soon as a CONNACK
    refuses us, or LinkTimeout when nothing answered before `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not connected.wait(min(REFUSAL_POLL_S, max(0.0, deadline - time.monotonic()))):
        reason = refused()
        if reason:
            raise ConnectRefused(f"{endpoint.host}:{endpoint.port}: {reason}")
        if time.monotonic() >= deadline:
            raise LinkTimeout(f"no session with {endpoint.host}:{endpoint.port} after {timeout_s} s")


def _no_delay(client, userdata, sock) -> None:
    """TCP_NODELAY on paho's socket: with Nagle on, a video frame's last segment waits for the
    broker's delayed ACK (40 ms on Linux) whenever the previous one is unacknowledged."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError) as err:  # not a TCP socket (e.g. a test double)
        _LOGGER.debug("TCP_NODELAY not set: %s", err)


class Link:
    """One MQTT 5 session; `start()` connects in the background and keeps reconnecting."""

    def __init__(self, endpoint: Endpoint, *, will: Will | None = None,
                 on_connected: Callable[[], None] | None = None,
                 on_disconnected: Callable[[str], None] | None = None,
                 on_message: Callable[[str, bytes], None] | None = None,
                 on_acked: Callable[[int, bool, str], None] | None = None,
                 reconnect_s: tuple[float, float] = (1.0, 30.0)):
        self.endpoint = endpoint
        self._on_connected, self._on_disconnected = on_connected, on_disconnected
        self._on_message, self._on_acked = on_message, on_acked
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._subscriptions: dict[str, tuple[int, bool]] = {}  # filter -> (qos, no_local)
        self._suback: dict[int, list[ReasonCode]] = {}  # mid -> codes, the last few SUBACKs
        self._suback_ready = threading.Condition()

        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=endpoint.client_id,
                        protocol=paho.MQTTv5)
        if endpoint.cert_file is None or endpoint.password:
            c.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.ca_file is not None:
            c.tls_set(ca_certs=str(endpoint.ca_file), cert_reqs=ssl.CERT_REQUIRED,
                      tls_version=ssl.PROTOCOL_TLS_CLIENT,
                      certfile=str(endpoint.cert_file) if endpoint.cert_file else None,
                      keyfile=str(endpoint.key_file) if endpoint.key_file else None)
        if will is not None:
            c.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        c.reconnect_delay_set(min_delay=max(1, int(reconnect_s[0])), max_delay=int(reconnect_s[1]))
        c.on_connect, c.on_disconnect = self._handle_connect, self._handle_disconnect
        c.on_connect_fail = self._handle_connect_fail
        c.on_socket_open = _no_delay
        self._unreachable_logged = float("-inf")
        c.on_message, c.on_publish, c.on_subscribe = (self._handle_message, self._handle_publish,
                                                       self._handle_subscribe)
        self._client = c
        self.callback_errors: Counter[str] = Counter()  # "on_message:RecursionError" -> count

    def _guard(self, name: str, callback: Callable[..., None], *args: object) -> None:
        """Run a user callback on paho's thread; no exception may end that thread."""
        try:
            callback(*args)
        except Exception as exc:
            kind = f"{name}:{type(exc).__name__}"
            self.callback_errors[kind] += 1
            n = self.callback_errors[kind]
            if n == 1:
                _LOGGER.exception("%s of %s failed (first %s; the link goes on)", name,
                                  self.endpoint.username, type(exc).__name__)
            elif worth_a_line(n):
                _LOGGER.error("%s of %s failed: %s (#%d of this kind)", name,
                              self.endpoint.username, exc, n)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        props = None
        if self.endpoint.session_expiry_s > 0:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.endpoint.session_expiry_s
        self._client.connect_async(self.endpoint.host, self.endpoint.port,
                                   keepalive=self.endpoint.keepalive_s,
                                   clean_start=self.endpoint.session_expiry_s <= 0, properties=props)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> None:
        """Block until the session is up; ConnectRefused / LinkTimeout otherwise."""
        wait_for_session(self.endpoint, self._connected, lambda: self._refused, timeout_s)

    def stop(self) -> None:
        """Clean DISCONNECT (no Last Will) and stop the network thread."""
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def abandon(self) -> None:
        """Detach every callback and stop in the background (a replaced session: nothing it
        does any more may reach its owner, and a stuck network thread must not block them)."""
        self._on_connected = self._on_disconnected = self._on_message = self._on_acked = None
        self._connected.clear()
        threading.Thread(target=self._stop_quietly, name="mqtt-abandoned", daemon=True).start()

    def _stop_quietly(self) -> None:
        try:
            self.stop()
        except Exception as exc:  # noqa: BLE001  (a broken session may fail to say goodbye)
            _LOGGER.debug("abandoned session of %s: %s", self.endpoint.username, exc)

    def __enter__(self) -> Link:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- traffic -------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 0, *, retain: bool = False,
                expiry_s: float | None = None) -> int:
        """Hand a message to paho; return its mid (reported later by on_acked)."""
        if not self._connected.is_set():
            raise NotConnected(f"not connected to {self.endpoint.host}:{self.endpoint.port}")
        props = None
        if expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, math.ceil(expiry_s))  # whole seconds on the wire
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc == paho.MQTT_ERR_NO_CONN:
            raise NotConnected("connection lost")  # paho may queue it; dropped on reconnect
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise LinkError(f"publish on {topic} failed: {paho.error_string(info.rc)}")
        return info.mid

    def subscribe(self, topic_filter: str, qos: int = 1, *, no_local: bool = False,
                  timeout_s: float = 10.0) -> None:
        """Subscribe now and after every reconnect; SubscribeRefused if the broker says no."""
        with self._lock:
            self._subscriptions[topic_filter] = (qos, no_local)
        codes = self._subscribe_once(topic_filter, qos, no_local, timeout_s)
        failed = [c for c in codes if c.is_failure]
        if failed:
            with self._lock:
                self._subscriptions.pop(topic_filter, None)
            raise SubscribeRefused(f"{topic_filter}: {failed[0]}")

    def keep_subscribed(self, topic_filter: str, qos: int = 1, *, no_local: bool = False) -> None:
        """Subscribe whenever the session is up (now, and after every reconnect) without waiting
        for the SUBACK: usable before start() and from callbacks. A refusal is logged."""
        with self._lock:
            self._subscriptions[topic_filter] = (qos, no_local)
            up = self._connected.is_set()
        if up:
            self._client.subscribe(topic_filter, options=SubscribeOptions(qos=qos, noLocal=no_local))

    def _subscribe_once(self, topic_filter: str, qos: int, no_local: bool,
                        timeout_s: float) -> list[ReasonCode]:
        # No lock of ours is held while calling into paho: its network thread may be inside
        # _handle_subscribe waiting for our lock. SUBACKs are parked by mid instead.
        rc, mid = self._client.subscribe(topic_filter, options=SubscribeOptions(
            qos=qos, noLocal=no_local))
        if rc != paho.MQTT_ERR_SUCCESS:
            raise NotConnected(f"subscribe {topic_filter}: {paho.error_string(rc)}")
        with self._suback_ready:
            if not self._suback_ready.wait_for(lambda: mid in self._suback, timeout_s):
                raise LinkTimeout(f"no SUBACK for {topic_filter} after {timeout_s} s")
            return self._suback.pop(mid)

    # --- paho callbacks (network thread) -------------------------------------------------------
    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            _LOGGER.warning("broker refused %s: %s", self.endpoint.username, reason_code)
            return
        self._refused = None
        # Our outbox resends what was not acked; paho resending its own copies would duplicate.
        dropped = client.drop_out_messages()
        if dropped:
            _LOGGER.debug("dropped %d unacked paho message(s) from the last session", len(dropped))
        with self._lock:  # connected is set under the lock: keep_subscribed never falls between
            subs = dict(self._subscriptions)
            self._connected.set()
        for topic_filter, (qos, no_local) in subs.items():
            client.subscribe(topic_filter, options=SubscribeOptions(qos=qos, noLocal=no_local))
        _LOGGER.info("connected to %s:%s as %s", self.endpoint.host, self.endpoint.port,
                     self.endpoint.username)
        if self._on_connected:
            self._guard("on_connected", self._on_connected)

    def _handle_connect_fail(self, client, userdata) -> None:
        now = time.monotonic()
        if now - self._unreachable_logged > 30.0:  # one line per 30 s while the broker is away
            self._unreachable_logged = now
            _LOGGER.warning("cannot reach the broker at %s:%s; retrying", self.endpoint.host,
                            self.endpoint.port)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            _LOGGER.log(logging.WARNING if reason_code.is_failure else logging.INFO,
                        "disconnected from %s:%s: %s", self.endpoint.host, self.endpoint.port,
                        reason_code)
        if self._on_disconnected:
            self._guard("on_disconnected", self._on_disconnected, str(reason_code))

    def _handle_message(self, client, userdata, message) -> None:
        if self._on_message:
            self._guard("on_message", self._on_message, message.topic, message.payload)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if self._on_acked:
            self._guard("on_acked", self._on_acked, mid, not reason_code.is_failure,
                        str(reason_code))

    def _handle_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [c for c in reason_codes if c.is_failure]
        if failed:
            _LOGGER.warning("broker refused a subscription of %s: %s", self.endpoint.username,
                            failed[0])
        with self._suback_ready:
            self._suback[mid] = list(reason_codes)
            while len(self._suback) > 64:  # resubscribes after reconnect are never claimed
                del self._suback[next(iter(self._suback))]
            self._suback_ready.notify_all()
