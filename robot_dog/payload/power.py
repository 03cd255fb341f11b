"""Power and health from MCU telemetry: BatteryState fields and diagnostic statuses (pure).

Units: V, A (ROS convention: negative while discharging), charge 0..1, degC, s. When telemetry
stops for `stale_s` every status turns STALE; nothing pretends the last value is current.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from firmware_bridge.messages import Fault, SafeReason, Telemetry


class Level(enum.IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""
    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass(frozen=True)
class PowerConfig:
    stale_s: float = 1.0
    capacity_ah: float = 10.0
    battery_warn_c: float = 50.0
    battery_error_c: float = 60.0
    searchlight_warn_c: float = 60.0   # derating starts
    amplifier_warn_c: float = 75.0


@dataclass(frozen=True)
class BatteryReading:
    voltage_v: float
    current_a: float          # negative: discharging (sensor_msgs/BatteryState convention)
    percentage: float         # 0..1
    temperature_c: float
    charge_ah: float
    capacity_ah: float
    discharging: bool
    overheat: bool


def battery_from(t: Telemetry, config: PowerConfig = PowerConfig()) -> BatteryReading:
    charge = t.charge_pm / 1000
    temp = t.battery_temp_dc / 10
    return BatteryReading(
        voltage_v=t.battery_mv / 1000, current_a=-t.battery_ma / 1000, percentage=charge,
        temperature_c=temp, charge_ah=charge * config.capacity_ah, capacity_ah=config.capacity_ah,
        discharging=t.battery_ma > 0, overheat=temp >= config.battery_error_c)


@dataclass(frozen=True)
class Status:
    name: str
    level: Level
    message: str
    values: dict[str, str] = field(default_factory=dict)


#: Parts; the node prefixes each with its own name ("payload: battery"), as diagnostic_updater.
NAMES = ("battery", "searchlight", "amplifier", "mcu")


#: How long the mcu status says "rebooted" (WARN) after the host saw the MCU restart, s.
REBOOT_SHOWN_S = 30.0


def diagnose(t: Telemetry | None, age_s: float | None, link_state: str,
             config: PowerConfig = PowerConfig(),
             link: dict[str, str] | None = None,
             rebooted_ago_s: float | None = None) -> list[Status]:
    """One status per part; all STALE when telemetry is missing or older than `stale_s` (age
    on the MCU's time base). `link`: the host's link counters, reported with the mcu status.
    `rebooted_ago_s`: when the MCU last restarted (a reboot is a WARN for REBOOT_SHOWN_S, not
    lost frames: the host does not count the restart of the MCU's frame counter as a gap)."""
    link_values = {"link": link_state, **(link or {})}
    if t is None or age_s is None or age_s > config.stale_s:
        why = ("no telemetry from the MCU yet" if age_s is None
               else f"no current telemetry from the MCU (newest is {age_s:.1f} s old)")
        return [Status(name, Level.STALE, why, link_values if name == "mcu" else {"link": link_state})
                for name in NAMES]
    faults = Fault(t.faults)
    battery = battery_from(t, config)
    statuses = [
        _battery(battery, faults, config),
        _part("searchlight", t.searchlight_temp_dc / 10, config.searchlight_warn_c,
              bool(faults & Fault.SEARCHLIGHT_OVERTEMP), "over temperature: beam cut by the MCU",
              {"level": f"{t.searchlight_level_pm / 1000:.2f}", "strobe": str(t.searchlight_strobe)}),
        _part("amplifier", t.amplifier_temp_dc / 10, config.amplifier_warn_c,
              bool(faults & Fault.AMPLIFIER_OVERTEMP), "over temperature: output cut by the MCU",
              {"enabled": str(t.amp_enabled), "volume_cap_pct": str(t.amp_volume_cap_pct)}),
    ]
    safe = SafeReason(t.safe_reasons)
    values = {**link_values, "uptime_s": f"{t.uptime_ms / 1000:.1f}",
              "faults": _names(faults), "safe_reasons": _names(safe),
              "mcu_rx_bad_frames": str(t.rx_bad_frames), "telemetry_age_s": f"{age_s:.2f}"}
    if safe & SafeReason.HEARTBEAT_LOST:
        statuses.append(Status("mcu", Level.ERROR, "MCU holds safe state: heartbeat lost", values))
    elif safe & SafeReason.BUTTON:
        statuses.append(Status("mcu", Level.WARN, "MCU holds safe state: e-stop button pressed",
                               values))
    elif safe & SafeReason.COMMANDED:
        statuses.append(Status("mcu", Level.WARN, "MCU holds safe state: e-stop", values))
    elif safe:   # only reasons this host does not know (a newer MCU): still safe
        statuses.append(Status("mcu", Level.WARN, f"MCU holds safe state: {_names(safe)}", values))
    elif faults & (Fault.HEARTBEAT_LOST | Fault.RX_ERRORS):
        statuses.append(Status("mcu", Level.WARN, f"latched faults: {_names(faults)}", values))
    else:
        statuses.append(Status("mcu", Level.OK, "ok", values))
    if rebooted_ago_s is not None and rebooted_ago_s < REBOOT_SHOWN_S:
        mcu = statuses[-1]
        note = f"MCU rebooted {rebooted_ago_s:.0f} s ago; outputs were reset"
        statuses[-1] = Status("mcu", max(mcu.level, Level.WARN),
                              note if mcu.level == Level.OK else f"{mcu.message}; {note}", values)
    return statuses


def _battery(b: BatteryReading, faults: Fault, config: PowerConfig) -> Status:
    values = {"voltage_v": f"{b.voltage_v:.2f}", "current_a": f"{b.current_a:.2f}",
              "charge": f"{b.percentage:.3f}", "temperature_c": f"{b.temperature_c:.1f}"}
    if faults & Fault.BATTERY_CRITICAL:
        return Status("battery", Level.ERROR, f"critical: {b.percentage:.0%} left", values)
    if b.overheat:
        return Status("battery", Level.ERROR, f"over temperature {b.temperature_c:.1f} degC", values)
    if faults & Fault.BATTERY_LOW:
        return Status("battery", Level.WARN, f"low: {b.percentage:.0%} left", values)
    if b.temperature_c >= config.battery_warn_c:
        return Status("battery", Level.WARN, f"warm {b.temperature_c:.1f} degC", values)
    return Status("battery", Level.OK, f"{b.percentage:.0%}", values)


def _part(name: str, temp_c: float, warn_c: float, overtemp: bool, error_text: str,
          values: dict[str, str]) -> Status:
    values = {**values, "temperature_c": f"{temp_c:.1f}"}
    if overtemp:
        return Status(name, Level.ERROR, error_text, values)
    if temp_c >= warn_c:
        return Status(name, Level.WARN, f"warm {temp_c:.1f} degC", values)
    return Status(name, Level.OK, "ok", values)


def flag_names(flags: int, enum_cls: type[enum.IntFlag]) -> list[str]:
    """Names of the set bits; bits this side does not know as UNKNOWN_0x..."""
    known = [f for f in enum_cls if f and f.name and int(f) & int(flags)]
    unknown = int(flags) & ~sum(int(f) for f in enum_cls)
    return [f.name for f in known] + [f"UNKNOWN_0x{1 << i:x}" for i in range(32)
                                      if unknown & (1 << i)]


def _names(flags: enum.IntFlag) -> str:
    return ",".join(flag_names(flags, type(flags))) or "none"
