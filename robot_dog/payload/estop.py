"""E-stop gate of the payload (pure): an engaged e-stop makes the payload safe and refuses
requests; the MCU is told through the SAFE command (docs/serial_protocol.md section 7).
"""
from __future__ import annotations

from firmware_bridge.messages import Safe
from robot_dog.payload.errors import RequestRefused


class EstopGate:
    def __init__(self) -> None:
        self.engaged = False
        self.reason = ""

    def update(self, engaged: bool, reason: str = "") -> Safe | None:
        """New e-stop state; the SAFE command to send when it changed, else None."""
        changed = engaged != self.engaged
        self.engaged, self.reason = engaged, reason
        return Safe(engaged) if changed else None

    def sync(self) -> Safe:
        """The SAFE command that brings a freshly connected MCU in line with the e-stop."""
        return Safe(self.engaged)

    def check(self) -> None:
        """Raise RequestRefused while the e-stop is engaged."""
        if self.engaged:
            raise RequestRefused(f"e-stop engaged ({self.reason or 'no reason given'})")
