"""The virtual payload MCU on a pseudo-terminal: McuModel + McuProtocol + fault injection.

`VirtualMcu(link)` creates a pty, points the symlink `link` at its slave (like a udev
/dev/serial/by-id name) and serves the protocol from a thread. Unplugging closes the pty and
removes the symlink, so the host sees the port vanish; replugging makes a new pty behind the same
symlink. Everything is reachable from tests (`faults`, `unplug()`, `snapshot()`, `wait_for()`).
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.mcu import CommandReceived, HeartbeatReceived, McuProtocol
from firmware_bridge.timers import Periodic
from firmware_bridge.virtual_mcu.faults import FaultyLine, LineFaults
from firmware_bridge.virtual_mcu.model import McuModel, McuModelConfig

_LOGGER = logging.getLogger(__name__)


class VirtualMcu:
    def __init__(self, link: str | os.PathLike[str], config: McuModelConfig | None = None,
                 faults: LineFaults | None = None, seed: int | None = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.link = Path(link)
        self.faults = faults or LineFaults()
        self.clock = clock
        self._lock = threading.RLock()
        self.model = McuModel(config, clock())
        self.protocol = McuProtocol()
        self.rx_line = FaultyLine(self.faults, None if seed is None else seed)
        self.tx_line = FaultyLine(self.faults, None if seed is None else seed + 1)
        self._telemetry = Periodic(self.model.config.telemetry_period_s, clock())
        self._delayed: deque[tuple[float, bytes]] = deque()
        self._master: int | None = None
        self._slave: int | None = None
        self._plug_at: float | None = None
        self._unplug_requests: list[tuple[float, threading.Event]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen_bad = 0
        self._reported: tuple[int, int] | None = None   # (safe_reasons, faults) in the last EVENT
        self.boots = 1
        self.commands_applied = 0
        self.slave_name = ""

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> "VirtualMcu":
        self._plug()
        self._thread = threading.Thread(target=self._run, name="virtual-mcu", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._unplug_now()

    def __enter__(self) -> "VirtualMcu":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self, seconds: float) -> None:
        """Pull the cable now; plug it back in after `seconds` (a new pty behind the symlink).

        The serving thread closes the fds itself (and this call waits for it): a descriptor
        closed under its feet could be reused by another thread and then read by it.
        """
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                self._unplug_now()
                self._plug_at = self.clock() + seconds
            return
        done = threading.Event()
        with self._lock:
            self._unplug_requests.append((seconds, done))
        done.wait(timeout=5.0)

    def plug_in(self) -> None:
        """Plug the pulled cable back in now, before `unplug`'s time is up (the serving thread
        makes the new pty within 10 ms; with no thread running, this call does)."""
        with self._lock:
            if self._master is not None:
                return
            if self._thread is None or not self._thread.is_alive():
                self._plug()
            else:
                self._plug_at = self.clock()

    def set_charge(self, charge: float) -> None:
        """Set the battery's state of charge (0..1): the simulator's low-battery fault."""
        if not 0.0 <= charge <= 1.0:
            raise ValueError("charge must be within 0..1")
        with self._lock:
            self.model.state.charge = charge

    def set_button(self, pressed: bool) -> None:
        """Press (True) or pull out (False) the payload's e-stop button."""
        with self._lock:
            now = self.clock()
            self.model.set_button(bool(pressed), now)
            if self._master is not None:   # pushed now, from this thread: no 10 ms wait
                self._report_changes(now)
                self._flush(now)

    def reboot(self) -> None:
        """Reset the MCU (a brown-out, a watchdog reset, a firmware update): the session, the
        commanded safe state, outputs and counters are gone; the pty stays (USB CDC would
        re-enumerate; a UART does not), the button and the physics stay."""
        with self._lock:
            now = self.clock()
            self.model = self.model.rebooted(now)
            self.protocol = McuProtocol()
            self._telemetry = Periodic(self.model.config.telemetry_period_s, now)
            self._reported = None
            self._seen_bad = 0
            self.boots += 1

    @property
    def plugged(self) -> bool:
        return self._master is not None

    # ---- views ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            self.model.step(now)
            snap = self.model.snapshot(now)
            snap.update(plugged=self.plugged, boots=self.boots, boot_id=self.protocol.boot_id,
                        rx_bad_frames=self.protocol.decoder.bad_total,
                        duplicates=self.protocol.duplicates, commands_applied=self.commands_applied,
                        sessions=self.protocol.sessions, ignored_frames=self.protocol.ignored,
                        refused_frames=self.protocol.decoder.refused_total)
            return snap

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float,
                 interval: float = 0.01) -> dict[str, Any] | None:
        """Poll `snapshot()` until `predicate` holds; the snapshot, or None after `timeout` s."""
        end = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() >= end:
                return None
            time.sleep(interval)

    # ---- the pty -------------------------------------------------------------------------

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)              # no echo or line editing before the host configures it
        os.set_blocking(master, False)  # a UART with nobody listening drops bytes, never blocks
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.slave_name)
        tmp.replace(self.link)          # atomic: the host never sees a half-made link
        self._plug_at = None
        _LOGGER.info("virtual MCU on %s -> %s", self.link, self.slave_name)

    def _unplug_now(self) -> None:
        if self._master is None:
            return
        if self.link.is_symlink():
            self.link.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._delayed.clear()
        _LOGGER.info("virtual MCU unplugged")

    # ---- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = self.clock()
                for seconds, done in self._unplug_requests:
                    self._unplug_now()
                    self._plug_at = now + seconds
                    done.set()
                self._unplug_requests.clear()
                if self._master is None:
                    if self._plug_at is not None and now >= self._plug_at:
                        self._plug()
                    master = None
                else:
                    master = self._master
                    self._tick(now)
                wait = self._telemetry.next_at - now
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
            wait = min(max(wait, 0.0), 0.01)  # watchdog and expiries checked every <= 10 ms
            if master is None:
                time.sleep(wait or 0.01)
                continue
            try:
                ready, _, _ = select.select([master], [], [], wait)
                data = os.read(master, 4096) if ready else b""
            except OSError:
                data = b""  # fd closed by unplug() meanwhile, or no slave open (EIO)
                time.sleep(0.005)
            if data:
                with self._lock:
                    if master == self._master:
                        self._receive(data, self.clock())

    def _receive(self, data: bytes, now: float) -> None:
        self.protocol.receive_data(self.rx_line.feed(data))
        while (event := self.protocol.next_event()) is not None:
            if isinstance(event, HeartbeatReceived):
                self.model.heartbeat(now)
            elif isinstance(event, CommandReceived):
                status = self.model.apply(event.command, now)
                self.commands_applied += 1
                self.protocol.send_ack(event.seq, status)
        bad = self.protocol.decoder.bad_total
        if bad != self._seen_bad:
            self._seen_bad = bad
            self.model.note_rx_error()
        self._report_changes(now)
        self._flush(now)

    def _report_changes(self, now: float) -> None:
        """EVENT at boot and whenever the safe reasons or faults change (the button at once,
        not on the next 100 ms telemetry tick)."""
        state = (int(self.model.safe_reasons), int(self.model.faults))
        if state != self._reported:
            self._reported = state
            self.protocol.send_event(self.model.event(now))

    def _tick(self, now: float) -> None:
        self.model.step(now)
        self._report_changes(now)
        if self._telemetry.due(now):
            self.protocol.send_telemetry(self.model.telemetry(now, self.protocol.decoder.bad_total))
        self._flush(now)

    def _flush(self, now: float) -> None:
        data = self.protocol.data_to_send()
        if data:
            data = self.tx_line.feed(data)
            if self.faults.delay_s > 0:
                self._delayed.append((now + self.faults.delay_s, data))
            else:
                self._write(data)
        while self._delayed and self._delayed[0][0] <= now:
            self._write(self._delayed.popleft()[1])

    def _write(self, data: bytes) -> None:
        if not data or self._master is None:
            return
        try:
            os.write(self._master, data)
        except (BlockingIOError, OSError):
            pass  # the host is not reading: the bytes are lost, as on a real UART
