"""Megaphone amplifier: request limits, thermal derating and its state (pure; no rclpy).

Enabling needs a deadline like every actuator command: the MCU switches the amplifier off when
it lapses, so a megaphone that dies cannot leave it on (the megaphone refreshes it while it
sounds). Enabling is refused while the MCU is in its safe state (e-stop, lost heartbeat) or the
amplifier is too hot; the MCU refuses it too (SAFE_STATE), this only says why earlier.
The volume cap (0..1) is refused above `max_volume`, never clamped; above `derate_start_c` the
cap sent to the MCU is scaled down linearly to `min_factor` at `cutoff_c`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_bridge.messages import Fault, SetAmplifier, Telemetry
from robot_dog.payload.errors import RequestRefused, checked_duration


@dataclass(frozen=True)
class AmplifierConfig:
    max_volume: float = 1.0
    default_duration_s: float = 5.0
    max_duration_s: float = 600.0
    derate_start_c: float = 70.0
    cutoff_c: float = 85.0          # below the MCU's own 90 degC hardware cutoff
    min_factor: float = 0.5


@dataclass(frozen=True)
class AmplifierReport:
    enabled: bool
    volume_cap: float               # 0..1
    temperature_c: float
    overtemp: bool
    safe_state: bool
    remaining_s: float


def report_from(telemetry: Telemetry) -> AmplifierReport:
    return AmplifierReport(
        telemetry.amp_enabled, telemetry.amp_volume_cap_pct / 100, telemetry.amplifier_temp_dc / 10,
        bool(telemetry.faults & Fault.AMPLIFIER_OVERTEMP), bool(telemetry.safe_reasons),
        telemetry.amp_remaining_ms / 1000)


def derating_factor(temp_c: float | None, config: AmplifierConfig = AmplifierConfig()) -> float:
    if temp_c is None or temp_c <= config.derate_start_c:
        return 1.0
    if temp_c >= config.cutoff_c:
        return 0.0
    span = (temp_c - config.derate_start_c) / (config.cutoff_c - config.derate_start_c)
    return 1.0 - span * (1.0 - config.min_factor)


def plan_amplifier(enabled: bool, volume: float, duration_s: float,
                   state: AmplifierReport | None,
                   config: AmplifierConfig = AmplifierConfig()) -> SetAmplifier:
    """The SetAmplifier command for a request, given the last MCU state (None: unknown)."""
    duration = checked_duration(duration_s, config.default_duration_s, config.max_duration_s)
    if not enabled:
        return SetAmplifier(False, 0, round(duration * 1000))
    if not math.isfinite(volume) or not 0.0 <= volume <= 1.0:
        raise RequestRefused(f"volume {volume} outside 0..1")
    if volume > config.max_volume:
        raise RequestRefused(f"volume {volume:g} above the cap {config.max_volume:g}")
    if state is not None and state.safe_state:
        raise RequestRefused("the MCU is in its safe state (e-stop or lost heartbeat)", code="payload_safe")
    if state is not None and state.overtemp:
        raise RequestRefused(f"amplifier too hot ({state.temperature_c:.0f} degC), forced off", code="too_hot")
    factor = derating_factor(state.temperature_c if state else None, config)
    if factor == 0.0:
        raise RequestRefused(f"amplifier too hot ({state.temperature_c:.0f} degC)",  # type: ignore[union-attr]
                             code="too_hot")
    return SetAmplifier(True, round(volume * factor * 100), round(duration * 1000))
