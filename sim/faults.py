"""Scenario faults on the sim clock: which start and which end at a given time (pure).

The simulator applies them: `camera_loss` stops the bodycam frames, `low_battery` sets the
virtual MCU's charge, `serial_corrupt`/`serial_drop` set the virtual MCU's line fault rates,
`serial_unplug` pulls its cable for `duration` s, `estop_button` holds the payload's e-stop
button down for `duration` s (then pulls it out; the dog's hold stays until released). A duration of 0 lasts to the end of the run.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.scenario import FaultEvent


@dataclass(frozen=True)
class FaultChange:
    fault: FaultEvent
    active: bool          # True: starts now; False: ends now


class FaultSchedule:
    def __init__(self, faults: tuple[FaultEvent, ...]) -> None:
        self._pending = sorted(faults, key=lambda f: f.at)
        self._active: list[FaultEvent] = []

    def advance(self, now: float) -> list[FaultChange]:
        """Changes due at sim time `now` (s), each reported once, in time order."""
        changes = []
        while self._pending and self._pending[0].at <= now:
            fault = self._pending.pop(0)
            self._active.append(fault)
            changes.append(FaultChange(fault, True))
        for fault in list(self._active):
            if fault.duration > 0 and now >= fault.at + fault.duration:
                self._active.remove(fault)
                changes.append(FaultChange(fault, False))
        return changes

    def active(self, kind: str) -> bool:
        return any(f.kind == kind for f in self._active)
