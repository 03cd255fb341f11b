"""Notices an MQTT session that claims to be up but moves nothing (pure: time comes in as `now`).

Why: a session whose network thread died (an exception escaping a callback, a bug in a
library) still says "connected", the broker still holds its connection and the video path may
still work, yet the dog hears no command (e-stop included) and sends no telemetry. The only
outside sign is that queued messages stop being acknowledged. Policy: while connected with
messages queued, a PUBACK must arrive at least every `stall_s` seconds; otherwise the session
is restarted (UplinkSession.restart_link), at most once per `stall_s`.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Telemetry goes out at 1-10 Hz and a PUBACK takes milliseconds on a working link; 15 s
#: without one while messages wait is a dead session, not a slow one (a slow link still acks).
DEFAULT_STALL_S = 15.0


@dataclass
class LinkWatch:
    stall_s: float = DEFAULT_STALL_S
    _last_progress: float | None = None   # last PUBACK, or when there was nothing to wait for
    restarts: int = 0

    def progress(self, now: float) -> None:
        """A PUBACK arrived (the session works)."""
        self._last_progress = now

    def due(self, now: float, *, connected: bool, backlog: int) -> bool:
        """True when the session should be restarted now (then counted in `restarts`)."""
        if not connected or backlog == 0 or self._last_progress is None:
            # Disconnected: the client reconnects by itself. Nothing queued: nothing to judge.
            self._last_progress = now
            return False
        if now - self._last_progress <= self.stall_s:
            return False
        self._last_progress = now  # the next verdict comes a full stall_s after the restart
        self.restarts += 1
        return True

    def stalled_for(self, now: float) -> float:
        """Seconds since the last sign of progress (0 before the first check)."""
        return 0.0 if self._last_progress is None else max(0.0, now - self._last_progress)
