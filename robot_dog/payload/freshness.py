"""How old the MCU's newest telemetry really is, judged on the MCU's own clock too (pure).

Arrival time alone misses a link that delivers every frame late (a delay of 1.2 s still brings
a fresh-looking frame every 100 ms). Each TELEMETRY carries `uptime_ms`, the MCU's clock, so
`arrival - uptime` is the link delay plus a constant: its smallest value seen is the baseline,
and how far a frame lies above it is how late that frame is. The baseline may creep up by
`drift_ppm` (the two crystals differ) and restarts when `uptime_ms` runs backwards (MCU reboot,
or its 49.7-day wrap). A delay present from the very first frame is part of that baseline and
so cannot be seen from telemetry alone: protocol version 3 closes that gap. Each TELEMETRY
echoes the beat of the newest HEARTBEAT the MCU heard, and the host knows when it sent that beat
(`sampled_after`): the frame was sampled after it, so `now - sampled_after` bounds the frame's
age from above whatever the lag in either direction (docs/serial_protocol.md section 8). The
age is the larger of the two. Times in s, on the host's monotonic clock.
"""
from __future__ import annotations


class TelemetryAge:
    def __init__(self, drift_ppm: float = 200.0) -> None:
        self.drift = drift_ppm * 1e-6
        self._baseline: float | None = None   # smallest (arrival - MCU time) seen, s
        self._uptime_ms: int | None = None
        self._arrived: float | None = None
        self._sampled_after: float | None = None
        self.lateness_s = 0.0                 # how late the newest frame arrived

    def on_telemetry(self, uptime_ms: int, arrived: float,
                     sampled_after: float | None = None) -> None:
        """A frame stamped `uptime_ms` arrived at `arrived`; `sampled_after`: when the host sent
        the heartbeat it echoes (version 3), None without an echo."""
        self._sampled_after = sampled_after
        offset = arrived - uptime_ms / 1000
        if self._uptime_ms is None or uptime_ms < self._uptime_ms or self._baseline is None:
            self._baseline = offset           # first frame, or the MCU's clock restarted
        else:
            assert self._arrived is not None
            creep = self.drift * max(0.0, arrived - self._arrived)
            self._baseline = min(offset, self._baseline + creep)
        self._uptime_ms, self._arrived = uptime_ms, arrived
        self.lateness_s = offset - self._baseline

    def age(self, now: float) -> float | None:
        """Seconds since the MCU sampled the newest telemetry; None before the first frame."""
        if self._arrived is None:
            return None
        age = (now - self._arrived) + self.lateness_s
        if self._sampled_after is not None:
            age = max(age, now - self._sampled_after)
        return age
