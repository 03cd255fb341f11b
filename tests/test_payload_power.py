"""Battery and diagnostics from MCU telemetry, STALE when telemetry stops."""
from __future__ import annotations

from dataclasses import replace

from firmware_bridge.messages import Fault, SafeReason, SetSearchlight
from firmware_bridge.virtual_mcu.model import McuModel
from robot_dog.payload.power import NAMES, Level, battery_from, diagnose


def telemetry(**changes):
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.apply(SetSearchlight(1000, False, 60_000), 0.0)
    model.heartbeat(0.4)
    return replace(model.telemetry(0.4), **changes)


def test_battery_reading_uses_ros_sign_convention() -> None:
    b = battery_from(telemetry())
    assert b.current_a < 0 and b.discharging           # discharging: negative current
    assert 20.0 < b.voltage_v < 26.0 and b.percentage == 0.9
    assert b.charge_ah == 9.0


def test_all_ok_when_healthy() -> None:
    statuses = diagnose(telemetry(), 0.1, "up")
    assert [s.name for s in statuses] == list(NAMES)
    assert {s.level for s in statuses} == {Level.OK}


def test_stale_when_telemetry_stops() -> None:
    assert {s.level for s in diagnose(telemetry(), 1.5, "up")} == {Level.STALE}
    never = diagnose(None, None, "down")
    assert {s.level for s in never} == {Level.STALE} and "yet" in never[0].message


def test_faults_and_safe_state_raise_levels() -> None:
    by_name = {s.name: s for s in diagnose(telemetry(
        faults=Fault.BATTERY_LOW | Fault.SEARCHLIGHT_OVERTEMP,
        safe_reasons=SafeReason.HEARTBEAT_LOST), 0.1, "up")}
    assert by_name["battery"].level is Level.WARN
    assert by_name["searchlight"].level is Level.ERROR
    assert by_name["mcu"].level is Level.ERROR
    assert "heartbeat lost" in by_name["mcu"].message
    critical = diagnose(telemetry(faults=Fault.BATTERY_CRITICAL | Fault.BATTERY_LOW), 0.1, "up")
    assert critical[0].level is Level.ERROR
    estop = {s.name: s for s in diagnose(telemetry(safe_reasons=SafeReason.COMMANDED), 0.1, "up")}
    assert estop["mcu"].level is Level.WARN
    warm = diagnose(telemetry(searchlight_temp_dc=700), 0.1, "up")
    assert warm[1].level is Level.WARN


def test_the_payload_button_is_named_in_the_mcu_status() -> None:
    status = {s.name: s for s in diagnose(telemetry(safe_reasons=SafeReason.BUTTON), 0.1, "up")}
    assert status["mcu"].message == "MCU holds safe state: e-stop button pressed"


def test_unknown_safe_reason_bits_count_as_safe_and_are_named() -> None:
    status = {s.name: s for s in diagnose(telemetry(safe_reasons=SafeReason(0x40)), 0.1, "up")}
    assert status["mcu"].level is Level.WARN
    assert "UNKNOWN_0x40" in status["mcu"].message and "safe state" in status["mcu"].message


def test_link_counters_are_reported_with_the_mcu_status() -> None:
    link = {"host_bad_frames": "3", "telemetry_lost": "7", "resends": "2"}
    for age in (0.1, 5.0):                                 # fresh and stale alike
        mcu = {s.name: s for s in diagnose(telemetry(), age, "up", link=link)}["mcu"]
        assert {k: mcu.values[k] for k in link} == link


def test_a_reboot_is_a_warning_that_names_it_for_a_while() -> None:
    [mcu] = [s for s in diagnose(telemetry(), 0.1, "up", rebooted_ago_s=3.2) if s.name == "mcu"]
    assert mcu.level == Level.WARN and "MCU rebooted 3 s ago" in mcu.message
    [mcu] = [s for s in diagnose(telemetry(), 0.1, "up", rebooted_ago_s=31.0) if s.name == "mcu"]
    assert mcu.level == Level.OK


def test_a_reboot_is_named_next_to_a_safe_state() -> None:
    t = telemetry(safe_reasons=SafeReason.COMMANDED)
    [mcu] = [s for s in diagnose(t, 0.1, "up", rebooted_ago_s=1.0) if s.name == "mcu"]
    assert mcu.level == Level.WARN
    assert mcu.message == "MCU holds safe state: e-stop; MCU rebooted 1 s ago; outputs were reset"
