"""The payload MCU's behaviour, pure and clock-driven: lights, searchlight, amplifier, battery,
temperatures, heartbeat watchdog and safe state. The firmware must behave the same way.

Units: s, V/mV, A/mA, degC, level 0..1 internally (per mille on the wire).
Safe state (docs/serial_protocol.md): entered when no HEARTBEAT arrived for `heartbeat_timeout_s`
(fault HEARTBEAT_LOST latched), on a SAFE command (e-stop) or while the e-stop button on the
payload is pressed (the button acts on the MCU directly, as a wired e-stop does). Entering it switches the amplifier
off, stops the searchlight strobe (the beam stays steady) and turns a flashing light bar steady.
While safe, commands that would flash, strobe or enable the amplifier are refused (SAFE_STATE).
The heartbeat and button reasons clear by themselves when heartbeats resume or the button is
pulled out; nothing is restored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from firmware_bridge.messages import (
    MAX_DURATION_MS, MAX_STROBE_MS, AckStatus, ClearFaults, Event, Fault, LightPattern, Message, Safe,
    SafeReason, SetAmplifier, SetLight, SetSearchlight, Telemetry,
)
from firmware_bridge.timers import Deadline, Watchdog

#: Allowed head rates per pattern, centi-Hz (SAE J845 1-4 Hz; red/blue alternation <= 3 Hz).
RATE_LIMITS_CHZ: dict[LightPattern, tuple[int, int]] = {
    LightPattern.OFF: (0, 0),
    LightPattern.STEADY: (0, 0),
    LightPattern.FLASH: (100, 400),
    LightPattern.ALTERNATE: (100, 300),
    LightPattern.QUAD_FLASH: (100, 300),
}
_LATCHED = Fault.HEARTBEAT_LOST | Fault.RX_ERRORS


@dataclass(frozen=True)
class McuModelConfig:
    heartbeat_timeout_s: float = 0.5
    telemetry_period_s: float = 0.1
    battery_capacity_ah: float = 10.0
    battery_cells: int = 6                   # Li-ion, 3.3-4.2 V per cell
    internal_resistance_ohm: float = 0.06
    initial_charge: float = 0.9
    idle_current_a: float = 0.8
    light_current_a: float = 0.6             # light bar, both heads lit
    searchlight_current_a: float = 5.0       # at level 1.0
    amp_current_a: float = 3.0               # at 100 % volume cap
    ambient_c: float = 25.0
    searchlight_rise_c: float = 75.0         # steady-state rise at level 1.0
    searchlight_tau_s: float = 40.0
    amp_rise_c: float = 30.0
    amp_tau_s: float = 90.0
    battery_rise_c_per_a: float = 1.0
    battery_tau_s: float = 600.0
    searchlight_cutoff_c: float = 95.0       # hard cutoff; clears 10 degC lower
    amp_cutoff_c: float = 90.0
    strobe_hz: float = 10.0
    time_scale: float = 1.0                  # >1 speeds up battery and thermal physics (sim)


@dataclass
class McuState:
    light_pattern: LightPattern = LightPattern.OFF
    light_rate_chz: int = 0
    light_started: float = 0.0
    light_until: Deadline | None = None
    searchlight_level: float = 0.0
    searchlight_strobe: bool = False
    searchlight_until: Deadline | None = None
    amp_enabled: bool = False
    amp_volume_cap_pct: int = 0
    amp_until: Deadline | None = None
    safe_commanded: bool = False
    button_pressed: bool = False
    heartbeat_lost: bool = True              # no host yet at power-up
    latched_faults: Fault = Fault.NONE
    charge: float = 0.9
    battery_temp_c: float = 25.0
    searchlight_temp_c: float = 25.0
    amp_temp_c: float = 25.0
    searchlight_overtemp: bool = False
    amp_overtemp: bool = False
    current_a: float = 0.0
    voltage_v: float = 0.0


class McuModel:
    def __init__(self, config: McuModelConfig | None = None, now: float = 0.0) -> None:
        self.config = config or McuModelConfig()
        c = self.config
        self.state = McuState(charge=c.initial_charge, battery_temp_c=c.ambient_c,
                              searchlight_temp_c=c.ambient_c, amp_temp_c=c.ambient_c)
        self.watchdog = Watchdog(c.heartbeat_timeout_s)
        self.booted_at = now
        self._last_step = now
        self.step(now)

    # ---- inputs --------------------------------------------------------------------------

    def heartbeat(self, now: float) -> None:
        self.watchdog.kick(now)
        self.step(now)

    def set_button(self, pressed: bool, now: float) -> None:
        """The e-stop button on the payload: pressed (latched down) or pulled out again."""
        self.state.button_pressed = pressed
        self.step(now)

    def note_rx_error(self) -> None:
        self.state.latched_faults |= Fault.RX_ERRORS

    def apply(self, command: Message, now: float) -> AckStatus:
        """Apply a host command; the returned status goes into its ACK."""
        self.step(now)
        s = self.state
        if isinstance(command, SetLight):
            low, high = RATE_LIMITS_CHZ.get(command.pattern, (1, 0))  # unknown pattern: none fits
            if not (low <= command.rate_chz <= high and 0 < command.duration_ms <= MAX_DURATION_MS):
                return AckStatus.OUT_OF_RANGE
            if self.safe and command.pattern not in (LightPattern.OFF, LightPattern.STEADY):
                return AckStatus.SAFE_STATE
            if (command.pattern, command.rate_chz) != (s.light_pattern, s.light_rate_chz):
                s.light_started = now  # a refresh of the same pattern keeps its phase
            s.light_pattern, s.light_rate_chz = command.pattern, command.rate_chz
            s.light_until = Deadline.after(now, command.duration_ms / 1000)
        elif isinstance(command, SetSearchlight):
            limit = MAX_STROBE_MS if command.strobe else MAX_DURATION_MS
            if not (command.level_pm <= 1000 and 0 < command.duration_ms <= limit):
                return AckStatus.OUT_OF_RANGE
            if self.safe and command.strobe:
                return AckStatus.SAFE_STATE
            s.searchlight_level = command.level_pm / 1000
            s.searchlight_strobe = command.strobe
            s.searchlight_until = Deadline.after(now, command.duration_ms / 1000)
        elif isinstance(command, SetAmplifier):
            if not (command.volume_cap_pct <= 100 and 0 < command.duration_ms <= MAX_DURATION_MS):
                return AckStatus.OUT_OF_RANGE
            if self.safe and command.enabled:
                return AckStatus.SAFE_STATE
            s.amp_enabled, s.amp_volume_cap_pct = command.enabled, command.volume_cap_pct
            s.amp_until = Deadline.after(now, command.duration_ms / 1000)
        elif isinstance(command, Safe):
            s.safe_commanded = command.engage
            self.step(now)
        elif isinstance(command, ClearFaults):
            s.latched_faults &= ~Fault(command.mask & int(_LATCHED))
        else:
            return AckStatus.UNKNOWN_TYPE
        return AckStatus.OK

    # ---- time ----------------------------------------------------------------------------

    @property
    def safe(self) -> bool:
        s = self.state
        return s.safe_commanded or s.heartbeat_lost or s.button_pressed

    def step(self, now: float) -> None:
        """Advance watchdog, expiries and physics to `now`."""
        s, c = self.state, self.config
        lost = self.watchdog.expired(now)
        if lost and not s.heartbeat_lost:
            s.latched_faults |= Fault.HEARTBEAT_LOST
        s.heartbeat_lost = lost
        if self.safe:
            self._hold_safe_outputs()
        if s.light_until and s.light_until.expired(now):
            s.light_pattern, s.light_rate_chz, s.light_until = LightPattern.OFF, 0, None
        if s.searchlight_until and s.searchlight_until.expired(now):
            s.searchlight_level, s.searchlight_strobe, s.searchlight_until = 0.0, False, None
        if s.amp_until and s.amp_until.expired(now):
            s.amp_enabled, s.amp_until = False, None
        dt = max(0.0, now - self._last_step) * c.time_scale
        self._last_step = now
        self._physics(dt)

    def _hold_safe_outputs(self) -> None:
        s = self.state
        s.amp_enabled = False
        s.searchlight_strobe = False
        if s.light_pattern not in (LightPattern.OFF, LightPattern.STEADY):
            s.light_pattern, s.light_rate_chz = LightPattern.STEADY, 0

    def _physics(self, dt: float) -> None:
        s, c = self.state, self.config
        level = self.searchlight_output
        amp = (s.amp_volume_cap_pct / 100) if s.amp_enabled and not s.amp_overtemp else 0.0
        light = {LightPattern.OFF: 0.0, LightPattern.STEADY: 1.0}.get(s.light_pattern, 0.5)
        s.current_a = (c.idle_current_a + light * c.light_current_a
                       + level * c.searchlight_current_a + amp * c.amp_current_a)
        s.charge = max(0.0, s.charge - s.current_a * dt / 3600 / c.battery_capacity_ah)
        ocv = c.battery_cells * (3.3 + 0.9 * s.charge)
        s.voltage_v = max(0.0, ocv - s.current_a * c.internal_resistance_ohm)
        s.searchlight_temp_c = _approach(s.searchlight_temp_c,
                                         c.ambient_c + c.searchlight_rise_c * level,
                                         dt, c.searchlight_tau_s)
        s.amp_temp_c = _approach(s.amp_temp_c, c.ambient_c + c.amp_rise_c * amp, dt, c.amp_tau_s)
        s.battery_temp_c = _approach(s.battery_temp_c,
                                     c.ambient_c + c.battery_rise_c_per_a * s.current_a,
                                     dt, c.battery_tau_s)
        if s.searchlight_temp_c >= c.searchlight_cutoff_c:
            s.searchlight_overtemp = True
        elif s.searchlight_temp_c < c.searchlight_cutoff_c - 10:
            s.searchlight_overtemp = False
        if s.amp_temp_c >= c.amp_cutoff_c:
            s.amp_overtemp = True
        elif s.amp_temp_c < c.amp_cutoff_c - 10:
            s.amp_overtemp = False

    # ---- outputs -------------------------------------------------------------------------

    @property
    def searchlight_output(self) -> float:
        """Average beam level 0..1 after the MCU's own thermal cutoff (strobe: half duty)."""
        s = self.state
        if s.searchlight_overtemp:
            return 0.0
        return s.searchlight_level * (0.5 if s.searchlight_strobe else 1.0)

    @property
    def faults(self) -> Fault:
        s = self.state
        live = Fault.NONE
        if s.searchlight_overtemp:
            live |= Fault.SEARCHLIGHT_OVERTEMP
        if s.amp_overtemp:
            live |= Fault.AMPLIFIER_OVERTEMP
        if s.charge < 0.20:
            live |= Fault.BATTERY_LOW
        if s.charge < 0.05:
            live |= Fault.BATTERY_CRITICAL
        return s.latched_faults | live

    @property
    def safe_reasons(self) -> SafeReason:
        reasons = SafeReason.NONE
        if self.state.heartbeat_lost:
            reasons |= SafeReason.HEARTBEAT_LOST
        if self.state.safe_commanded:
            reasons |= SafeReason.COMMANDED
        if self.state.button_pressed:
            reasons |= SafeReason.BUTTON
        return reasons

    def light_outputs(self, now: float) -> tuple[bool, bool]:
        """(red on, blue on) at `now`."""
        s = self.state
        if s.light_pattern == LightPattern.OFF:
            return False, False
        if s.light_pattern == LightPattern.STEADY:
            return True, True
        phase = ((now - s.light_started) * s.light_rate_chz / 100) % 1.0
        if s.light_pattern == LightPattern.FLASH:
            return (phase < 0.5,) * 2
        first_half = phase < 0.5
        if s.light_pattern == LightPattern.QUAD_FLASH:
            lit = int((phase % 0.5) * 16) % 2 == 0   # 4 flashes per half cycle
            return first_half and lit, (not first_half) and lit
        return first_half, not first_half

    def telemetry(self, now: float, rx_bad_frames: int = 0) -> Telemetry:
        s = self.state
        red, blue = self.light_outputs(now)

        def left_ms(deadline: Deadline | None) -> int:
            return 0 if deadline is None else min(0xFFFFFFFF, int(deadline.remaining(now) * 1000))

        return Telemetry(
            uptime_ms=int((now - self.booted_at) * 1000) & 0xFFFFFFFF,
            battery_mv=round(s.voltage_v * 1000), battery_ma=round(s.current_a * 1000),
            charge_pm=round(s.charge * 1000), battery_temp_dc=round(s.battery_temp_c * 10),
            searchlight_temp_dc=round(s.searchlight_temp_c * 10),
            amplifier_temp_dc=round(s.amp_temp_c * 10),
            light_pattern=s.light_pattern, light_rate_chz=s.light_rate_chz,
            light_outputs=int(red) | int(blue) << 1,
            light_remaining_ms=0 if s.light_pattern == LightPattern.OFF else left_ms(s.light_until),
            searchlight_level_pm=0 if s.searchlight_overtemp else round(s.searchlight_level * 1000),
            searchlight_strobe=s.searchlight_strobe,
            searchlight_remaining_ms=left_ms(s.searchlight_until),
            amp_enabled=s.amp_enabled, amp_volume_cap_pct=s.amp_volume_cap_pct,
            amp_remaining_ms=left_ms(s.amp_until),
            safe_reasons=self.safe_reasons, faults=self.faults, rx_bad_frames=rx_bad_frames & 0xFFFF,
        )

    def event(self, now: float) -> Event:
        """The safe state and faults now, for an EVENT frame (sent when they change)."""
        return Event(uptime_ms=int((now - self.booted_at) * 1000) & 0xFFFFFFFF,
                     safe_reasons=self.safe_reasons, faults=self.faults)

    def rebooted(self, now: float) -> "McuModel":
        """The same hardware after a reset: firmware state is gone (outputs off, no commanded
        safe state, latched faults clear, power-up heartbeat state); the battery, temperatures
        and the latching e-stop button are physics and stay."""
        model = McuModel(self.config, now)
        old, new = self.state, model.state
        for name in ("charge", "battery_temp_c", "searchlight_temp_c", "amp_temp_c",
                     "button_pressed"):
            setattr(new, name, getattr(old, name))
        model.step(now)
        return model

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-friendly view for tests, the simulator and the control socket."""
        s = self.state
        red, blue = self.light_outputs(now)
        return {
            "light_pattern": s.light_pattern.name.lower(), "light_rate_hz": s.light_rate_chz / 100,
            "red_on": red, "blue_on": blue,
            "searchlight_level": s.searchlight_level, "searchlight_output": self.searchlight_output,
            "searchlight_strobe": s.searchlight_strobe,
            "amp_enabled": s.amp_enabled, "amp_volume_cap_pct": s.amp_volume_cap_pct,
            "safe": self.safe, "safe_reasons": [r.name for r in SafeReason if r & self.safe_reasons],
            "faults": [f.name for f in Fault if f and f & self.faults],
            "charge": s.charge, "voltage_v": s.voltage_v, "current_a": s.current_a,
            "battery_temp_c": s.battery_temp_c, "searchlight_temp_c": s.searchlight_temp_c,
            "amp_temp_c": s.amp_temp_c,
        }


def _approach(value: float, target: float, dt: float, tau: float) -> float:
    """First-order lag: `value` moves toward `target` with time constant `tau` over `dt` s."""
    return target + (value - target) * math.exp(-dt / tau)
