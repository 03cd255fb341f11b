"""E-stop gate of the payload (pure): an engaged e-stop makes the payload safe and refuses
requests that add output; the MCU is told through the SAFE command (docs/serial_protocol.md
section 7).

The loop is closed on the MCU's own word: the payload counts as safe only once telemetry shows
the COMMANDED safe reason (an ACK(OK) of SAFE says it was applied; telemetry says it still
holds). While telemetry disagrees with the wanted state, SAFE is sent again every `resend_s`,
so a lost or refused SAFE cannot leave the payload live under an e-stop. Until the first e-stop
message arrives (the topic is latched), the gate sends nothing: it never releases a safe state
it knows nothing about.
"""
from __future__ import annotations

from firmware_bridge.messages import Safe, SafeReason
from robot_dog.payload.errors import RequestRefused


class EstopGate:
    def __init__(self, resend_s: float = 0.5) -> None:
        self.engaged = False
        self.known = False      # an e-stop message arrived
        self.resends = 0
        self.reason = ""
        self.resend_s = resend_s
        #: True once MCU telemetry showed the wanted state; None before any telemetry.
        self.confirmed: bool | None = None
        self._sent_at: float | None = None

    def update(self, engaged: bool, reason: str = "", now: float = 0.0) -> Safe | None:
        """New e-stop state; the SAFE command to send when it changed, else None."""
        changed = engaged != self.engaged or not self.known
        self.engaged, self.reason, self.known = engaged, reason, True
        if not changed:
            return None
        self.confirmed = False
        self._sent_at = now
        return Safe(engaged)

    def sync(self, now: float = 0.0) -> Safe | None:
        """The SAFE command that brings a freshly connected MCU in line with the e-stop (None
        before the first e-stop message)."""
        if not self.known:
            return None
        self._sent_at = now
        return Safe(self.engaged)

    def on_telemetry(self, safe_reasons: int, now: float) -> tuple[Safe | None, bool]:
        """MCU telemetry arrived: (SAFE to send again or None, True if it just confirmed)."""
        if not self.known:
            return None, False
        holds = bool(int(safe_reasons) & SafeReason.COMMANDED) == self.engaged
        if holds:
            newly = self.confirmed is False
            self.confirmed = True
            return None, newly
        self.confirmed = False
        if self._sent_at is None or now - self._sent_at >= self.resend_s:
            self._sent_at = now
            self.resends += 1
            return Safe(self.engaged), False
        return None, False

    def check(self, reduces_output: bool = False) -> None:
        """Raise RequestRefused while the e-stop is engaged, unless the request only reduces
        output (light off, searchlight off or lower): those are always accepted."""
        if self.engaged and not reduces_output:
            raise RequestRefused(f"e-stop engaged ({self.reason or 'no reason given'}); "
                                 "only requests that reduce output are accepted", code="estop_engaged")
