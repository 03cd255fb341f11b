"""A virtual MCU in a process of its own, driven through its control socket (control.py).

A real payload MCU is a chip of its own: its 10 Hz telemetry never waits for the computer's
processes. In the simulator's process the virtual MCU shared the interpreter with MuJoCo, the
walking policy and the bodycam's renderer, and on a loaded 2-core machine its telemetry lapsed
past payload_node's 0.35 s limit: the dog then held for `mcu` (seen in CI: the demo's patrol
never finished). Here it runs apart, at payload_node's CPU priority, in a session of its own (so
the priority weighs against other sessions too: robot_dog/ros/priority.py), and ends with its
parent.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from firmware_bridge.virtual_mcu.control import parse_answer
from robot_dog.ros.priority import HIGH_PRIORITY_NICE

#: How long a new MCU process may take to make its pty and control socket, s (an interpreter's
#: start on a loaded machine: seen up to several seconds).
START_TIMEOUT_S = 60.0


class McuProcess:
    """`python -m firmware_bridge.virtual_mcu --link LINK --control LINK.control` as a child.

    The calls mirror VirtualMcu's (snapshot, set_charge, set_button, unplug) plus set_faults for
    the line's faults; each is one request on a kept connection to the control socket.
    """

    def __init__(self, link: str | os.PathLike[str], seed: int | None = None,
                 nice: int = HIGH_PRIORITY_NICE) -> None:
        self.link = Path(link)
        # A private directory: a Unix socket's path has at most 107 bytes, a run's may be longer.
        self._dir = Path(tempfile.mkdtemp(prefix="robot-dog-mcu-"))
        self.control = self._dir / "control"
        self.seed, self.nice = seed, nice
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()      # one request at a time on the kept connection

    def start(self) -> "McuProcess":
        seed = [] if self.seed is None else ["--seed", str(self.seed)]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_bridge.virtual_mcu", "--link", str(self.link),
             "--control", str(self.control), "--nice", str(self.nice),
             "--parent", str(os.getpid()), *seed],
            stdout=subprocess.DEVNULL,      # its banner; the caller says where the MCU is
            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.control.exists() and self.link.exists()):
            if self._proc.poll() is not None:
                raise RuntimeError(f"virtual MCU process ended at start (exit {self._proc.returncode})")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"virtual MCU made no pty in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = self._reader = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)          # it removes its symlink and socket
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def request(self, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """One control request; ValueError with the MCU's refusal, OSError when it is gone."""
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(str(self.control))
                self._reader = self._sock.makefile("rb")
            try:
                self._sock.settimeout(timeout)
                self._sock.sendall(json.dumps(message).encode() + b"\n")
                line = self._reader.readline()
                if not line:
                    raise ConnectionError("virtual MCU closed its control socket")
            except OSError:
                self._sock.close()          # a late answer must not be read as the next one's
                self._sock = self._reader = None
                raise
        return parse_answer(line)

    def snapshot(self) -> dict[str, Any]:
        """VirtualMcu.snapshot() plus `line_faults`."""
        return self.request({"cmd": "state"})

    def set_charge(self, charge: float) -> None:
        self.request({"cmd": "charge", "charge": charge})

    def set_button(self, pressed: bool) -> None:
        self.request({"cmd": "button", "pressed": pressed})

    def set_faults(self, **faults: float) -> None:
        """corrupt_rate, drop_rate, delay_s (faults.LineFaults)."""
        self.request({"cmd": "faults", **faults})

    def unplug(self, seconds: float) -> None:
        self.request({"cmd": "unplug", "seconds": seconds})
