"""Thin pyserial transport for HostProtocol: one thread owns the port, reads, runs timers and
reconnects; other threads submit commands and read the latest telemetry.

URL: a device path (`/dev/ttyUSB0`, a pty or its symlink) or any pyserial URL (`socket://...`).
When the port disappears the link goes DOWN, retries opening every `reconnect_interval_s`,
handshakes again and resends commands whose deadline has not passed.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import serial

from firmware_bridge.errors import LinkDown
from firmware_bridge.host import (
    FIRST_SEQ, CommandDone, CommandFailed, Connected, EventReceived, HostProtocol, LinkConfig,
    LinkState, McuRebooted, TelemetryReceived,
)
from firmware_bridge.messages import AckStatus, Message, Telemetry

_LOGGER = logging.getLogger(__name__)
_READ_TIMEOUT_S = 0.01  # longest the I/O thread sleeps before it looks at timers again


@dataclass(frozen=True)
class LinkLost:
    """Given to `on_event` when the port went away (cable, USB re-enumeration, MCU power)."""
    reason: str


#: What `on_event` receives, on the link's thread: act quickly, never block.
LinkEvent = EventReceived | McuRebooted | LinkLost


class SerialLink:
    def __init__(self, url: str, config: LinkConfig | None = None, baudrate: int = 115200,
                 on_telemetry: Callable[[Telemetry], None] | None = None,
                 on_connected: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, first_seq: int = FIRST_SEQ,
                 on_event: Callable[[LinkEvent], None] | None = None) -> None:
        self.url = url
        self.baudrate = baudrate
        self.config = config or LinkConfig()
        self.clock = clock
        self.on_telemetry = on_telemetry
        self.on_connected = on_connected
        self.on_event = on_event
        self.protocol = HostProtocol(self.config, clock(), first_seq=first_seq)
        self._lock = threading.Lock()
        self._port: serial.SerialBase | None = None
        self._futures: dict[int, Future[AckStatus]] = {}
        self._telemetry: Telemetry | None = None
        self._telemetry_at: float | None = None
        self._sampled_after: float | None = None
        self._loop_at: float | None = None   # when the I/O thread last looked at the port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._up = threading.Event()
        self.reconnects = 0
        self.last_error = ""

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> "SerialLink":
        self._thread = threading.Thread(target=self._run, name=f"serial-link {self.url}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and close the port; pending commands fail with LinkDown."""
        self._stop.set()
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            try:
                port.cancel_read()
            except Exception:  # noqa: BLE001 - best effort wake-up of a blocked read
                pass
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_port()
        with self._lock:
            futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(LinkDown("link closed"))

    def __enter__(self) -> "SerialLink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- API -----------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self.protocol.state

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def submit(self, command: Message, deadline_s: float | None = None) -> Future[AckStatus]:
        """Send `command`; the future gives the ack status or raises CommandError. OK: applied;
        STALE: superseded by a newer command of its type sent after it (never the newest)."""
        future: Future[AckStatus] = Future()
        if self._stop.is_set():
            future.set_exception(LinkDown("link closed"))
            return future
        with self._lock:
            token = self.protocol.send_command(command, self.clock(), deadline_s)
            self._futures[token] = future
            self._write_pending()
        return future

    def command(self, command: Message, deadline_s: float | None = None) -> AckStatus:
        """Blocking `submit`: the ack status, or raises CommandRefused/CommandTimeout/LinkDown."""
        deadline = self.config.command_deadline_s if deadline_s is None else deadline_s
        return self.submit(command, deadline_s).result(timeout=deadline + 1.0)

    def telemetry(self) -> tuple[Telemetry | None, float | None]:
        """The newest telemetry and its age in s (None, None before the first)."""
        with self._lock:
            if self._telemetry_at is None:
                return None, None
            return self._telemetry, self.clock() - self._telemetry_at

    def telemetry_silence(self) -> float | None:
        """How long the I/O thread has been running without telemetry arriving, s (None before
        the first frame). Judged on the thread's own loop, so a stall of this process (the
        thread not scheduled) is not taken for a silent MCU; a silent or vanished MCU is."""
        with self._lock:
            if self._telemetry_at is None or self._loop_at is None:
                return None
            return max(0.0, self._loop_at - self._telemetry_at)

    def telemetry_sampled_after(self) -> float | None:
        """When the heartbeat the newest telemetry echoes was sent (clock of this link): the
        frame was sampled after it. None for a version-2 MCU; -inf when the frame echoes no
        beat of this link (age unknown)."""
        with self._lock:
            return self._sampled_after

    # ---- the I/O thread ------------------------------------------------------------------

    def _run(self) -> None:
        next_open_at = 0.0
        while not self._stop.is_set():
            self._loop_at = self.clock()
            if self._port is None:
                now = self.clock()
                if now >= next_open_at:
                    if self._open():
                        continue
                    next_open_at = now + self.config.reconnect_interval_s
                with self._lock:
                    self.protocol.handle_timer(now)  # queued commands still lapse
                self._dispatch()
                self._stop.wait(0.02)
                continue
            try:
                port = self._port
                assert port is not None
                data = port.read(max(1, port.in_waiting))
                with self._lock:
                    now = self.clock()
                    if data:
                        self.protocol.receive_data(data, now)
                    self.protocol.handle_timer(now)
                    self._write_pending()
                self._dispatch()
            except (serial.SerialException, OSError) as exc:
                if self._stop.is_set():
                    break
                self._lost(exc)

    def _open(self) -> bool:
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate,
                                         timeout=_READ_TIMEOUT_S, write_timeout=1.0,
                                         exclusive=True, do_not_open=True)
            port.open()
            port.reset_input_buffer()  # bytes from before we owned the port are stale
        except (serial.SerialException, OSError, ValueError) as exc:
            message = str(exc)
            if message != self.last_error:
                _LOGGER.info("cannot open %s: %s", self.url, message)
                self.last_error = message
            return False
        with self._lock:
            self._port = port
            self.protocol.connection_made(self.clock())
            self._write_pending()
        _LOGGER.info("opened %s", self.url)
        return True

    def _lost(self, exc: Exception) -> None:
        _LOGGER.warning("lost %s: %s", self.url, exc)
        self.last_error = str(exc)
        self._up.clear()
        with self._lock:
            self.protocol.connection_lost()
            self._close_port()
        self.reconnects += 1
        self._notify([LinkLost(str(exc))])

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001 - the device may already be gone
                pass

    def _write_pending(self) -> None:
        """Write what the protocol produced (caller holds the lock)."""
        data = self.protocol.data_to_send()
        if data and self._port is not None:
            try:
                self._port.write(data)
            except (serial.SerialException, OSError) as exc:
                _LOGGER.debug("write failed (%s); the reader will notice the loss", exc)

    def _dispatch(self) -> None:
        """Turn protocol events into futures and callbacks, outside the lock."""
        resolved: list[tuple[Future[AckStatus], AckStatus | BaseException]] = []
        telemetry: list[Telemetry] = []
        pushed: list[LinkEvent] = []
        connected = False
        with self._lock:
            while (event := self.protocol.next_event()) is not None:
                if isinstance(event, TelemetryReceived):
                    self._telemetry, self._telemetry_at = event.telemetry, self.clock()
                    self._sampled_after = event.sampled_after
                    telemetry.append(event.telemetry)
                elif isinstance(event, (EventReceived, McuRebooted)):
                    pushed.append(event)
                elif isinstance(event, Connected):
                    self._up.set()
                    connected = True
                elif isinstance(event, (CommandDone, CommandFailed)):
                    future = self._futures.pop(event.token, None)
                    if future is not None:
                        outcome = event.status if isinstance(event, CommandDone) else event.error
                        resolved.append((future, outcome))
        self._notify(pushed)   # an e-stop button first, before futures and telemetry
        for future, result in resolved:
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if connected and self.on_connected is not None:
            try:
                self.on_connected()
            except Exception:
                _LOGGER.exception("connected callback failed")
        if self.on_telemetry is not None:
            for item in telemetry:
                try:
                    self.on_telemetry(item)
                except Exception:
                    _LOGGER.exception("telemetry callback failed")

    def _notify(self, events: list[LinkEvent]) -> None:
        if self.on_event is None:
            return
        for event in events:
            try:
                self.on_event(event)
            except Exception:
                _LOGGER.exception("event callback failed")
