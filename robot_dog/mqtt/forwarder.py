"""Drains the outbox to the broker in order, removing each message only on its PUBACK.

Sans-I/O apart from the outbox: `publish` is injected (the paho adapter's publish in the node,
a fake in tests). At most `window` messages are in flight; on reconnect everything unacked is
sent again from the oldest, so delivery is at least once and in order (events carry an `id`
for the station to deduplicate). The adapter must not resend on its own (client.Link drops
paho's internal resend queue on connect): the outbox is the single source of retransmission.

Threading: `put`-side code calls `pump()`; the MQTT thread calls `on_acked()`. No lock is held
while calling `publish`, so a PUBACK callback can never deadlock against a publish.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from robot_dog.mqtt.errors import NotConnected
from robot_dog.mqtt.store_forward import Outbox

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW = 20


__all__ = ["Forwarder", "NotConnected", "Publish"]

#: publish(topic, payload, qos) -> message id (raise NotConnected when down) that a later on_acked(mid, ...) refers to.
Publish = Callable[[str, bytes, int], int]


class Forwarder:
    def __init__(self, outbox: Outbox, publish: Publish, *, window: int = DEFAULT_WINDOW):
        if window < 1:
            raise ValueError("window must be >= 1")
        self._outbox, self._publish, self._window = outbox, publish, window
        self._lock = threading.Lock()      # guards the bookkeeping below; never held in publish
        self._pumping = threading.Lock()   # one pumper at a time
        self._again = False                # someone asked to pump while another thread pumped
        self._connected = False
        self._inflight: dict[int, int] = {}  # mid -> outbox id
        self._early: dict[int, bool] = {}    # acks that arrived while publish() was running
        self._publishing = False
        self._session = 0
        self._cursor = 0                      # highest outbox id handed to publish this session
        self.refused = 0                      # messages the broker refused (e.g. not authorized)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def on_connected(self) -> None:
        """New session: resend everything unacked, oldest first."""
        with self._lock:
            self._connected, self._inflight, self._early, self._cursor = True, {}, {}, 0
            self._session += 1
        self.pump()

    def on_disconnected(self) -> None:
        with self._lock:
            self._connected, self._inflight, self._early = False, {}, {}
            self._session += 1

    def on_acked(self, mid: int, ok: bool = True) -> None:
        """The broker answered message `mid` (PUBACK; for QoS 0: written to the socket)."""
        with self._lock:
            entry_id = self._inflight.pop(mid, None)
            if entry_id is None:
                # Either the ack beat publish() returning its mid, or it is not ours (the same
                # client also publishes video/status) or from a previous session: only the
                # first kind can be claimed, and only while a publish call is running.
                if self._publishing:
                    self._early[mid] = ok
                return
        self._settle(entry_id, ok)
        self.pump()

    def _settle(self, entry_id: int, ok: bool) -> None:
        if not ok:
            # Resending would be refused again and block the queue behind it: drop, loudly.
            self.refused += 1
            _LOGGER.error("broker refused outbox message %d; dropping it", entry_id)
        self._outbox.ack(entry_id)

    def pump(self) -> int:
        """Publish queued messages until the window is full; return how many were handed over."""
        if not self._pumping.acquire(blocking=False):
            self._again = True
            return 0
        sent = 0
        try:
            while True:
                self._again = False
                sent += self._fill()
                if not self._again:
                    return sent
        finally:
            self._pumping.release()

    def _fill(self) -> int:
        sent = 0
        while True:
            with self._lock:
                room = self._window - len(self._inflight)
                if not self._connected or room <= 0:
                    return sent
                cursor, session = self._cursor, self._session
            batch = self._outbox.peek(room, after_id=cursor)
            if not batch:
                return sent
            for entry in batch:
                with self._lock:
                    if session != self._session or not self._connected:
                        return sent
                    self._publishing = True
                try:
                    mid = self._publish(entry.topic, entry.payload, entry.qos)
                except NotConnected:
                    with self._lock:
                        self._publishing, self._early = False, {}
                        self._connected = False
                    return sent
                except BaseException:
                    with self._lock:
                        self._publishing, self._early = False, {}
                    raise
                sent += 1
                with self._lock:
                    self._publishing = False
                    early = self._early.pop(mid, None)
                    self._early = {}
                    if session != self._session:
                        return sent  # reconnected meanwhile: the new session resends it
                    self._cursor = entry.id
                    if early is None:
                        self._inflight[mid] = entry.id
                if early is not None:
                    self._settle(entry.id, early)
