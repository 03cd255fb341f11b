"""Control socket of a virtual MCU process: JSON lines over a Unix socket (never a network port).

Requests: {"cmd": "state"} -> snapshot; {"cmd": "faults", "corrupt_rate": .., "drop_rate": ..,
"delay_s": ..} -> the fault settings after the change; {"cmd": "unplug", "seconds": 3};
{"cmd": "button", "pressed": true} presses the payload's e-stop button (false pulls it out);
{"cmd": "charge", "charge": 0.15} sets the battery's state of charge (the low-battery fault);
{"cmd": "heartbeat_timeout"} is not offered: safety timings are firmware constants.
Used by the simulator and `robot-dog payload` when the MCU runs in another process.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.faults import LineFaults

_LOGGER = logging.getLogger(__name__)


def handle(mcu: VirtualMcu, request: dict[str, Any]) -> dict[str, Any]:
    """Apply one control request; returns the JSON answer (with "error" on a bad request)."""
    cmd = request.get("cmd")
    if cmd == "state":
        return {**mcu.snapshot(), "line_faults": asdict(mcu.faults)}
    if cmd == "faults":
        changes = {k: float(v) for k, v in request.items() if k != "cmd"}
        candidate = LineFaults(**{**asdict(mcu.faults), **changes})
        candidate.validate()
        for key, value in changes.items():
            setattr(mcu.faults, key, value)
        return asdict(mcu.faults)
    if cmd == "unplug":
        seconds = float(request.get("seconds", 3.0))
        if not 0 <= seconds <= 600:
            raise ValueError("seconds must be within 0..600")
        mcu.unplug(seconds)
        return {"unplugged_s": seconds}
    if cmd == "button":
        pressed = request.get("pressed")
        if not isinstance(pressed, bool):
            raise ValueError("pressed must be true or false")
        mcu.set_button(pressed)
        return {"button_pressed": pressed}
    if cmd == "charge":
        charge = float(request.get("charge", -1.0))
        mcu.set_charge(charge)       # ValueError outside 0..1
        return {"charge": charge}
    raise ValueError(f"unknown cmd {cmd!r}")


class ControlServer:
    def __init__(self, mcu: VirtualMcu, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.unlink(missing_ok=True)
        mcu_ref = mcu

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    try:
                        answer = handle(mcu_ref, json.loads(line))
                    except (ValueError, TypeError) as exc:
                        answer = {"error": str(exc)}
                    self.wfile.write(json.dumps(answer).encode() + b"\n")

        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "ControlServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def request(path: str | os.PathLike[str], message: dict[str, Any],
            timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a control socket and return the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return parse_answer(data)


def parse_answer(line: bytes) -> dict[str, Any]:
    """One answer line of the control socket; ValueError with the MCU's refusal."""
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError(f"control socket answered {answer!r}, not an object")
    if "error" in answer:
        raise ValueError(answer["error"])
    return answer
