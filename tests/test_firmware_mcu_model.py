"""The virtual MCU's behaviour (what the firmware must do), on a fake clock."""
from __future__ import annotations

import pytest

from firmware_bridge.messages import (
    AckStatus, ClearFaults, Fault, LightPattern, Safe, SafeReason, SetAmplifier, SetLight,
    SetSearchlight,
)
from firmware_bridge.virtual_mcu.faults import FaultyLine, LineFaults
from firmware_bridge.virtual_mcu.model import McuModel


def alive(now: float = 0.0) -> McuModel:
    model = McuModel(now=now)
    model.heartbeat(now)
    return model


def keep_alive(model: McuModel, start: float, end: float, step: float = 0.1) -> None:
    t = start
    while t < end:
        t = round(t + step, 6)
        model.heartbeat(t)


def test_powers_up_in_safe_state_until_first_heartbeat() -> None:
    model = McuModel(now=0.0)
    assert model.safe_reasons == SafeReason.HEARTBEAT_LOST
    model.heartbeat(0.1)
    assert not model.safe


def test_heartbeat_loss_enters_safe_state_and_latches_fault() -> None:
    model = alive()
    assert model.apply(SetLight(LightPattern.ALTERNATE, 150, 60_000), 0.0) is AckStatus.OK
    assert model.apply(SetSearchlight(800, True, 10_000), 0.0) is AckStatus.OK
    assert model.apply(SetAmplifier(True, 80, 60_000), 0.0) is AckStatus.OK
    model.step(0.49)
    assert not model.safe
    model.step(0.5)
    s = model.state
    assert model.safe_reasons == SafeReason.HEARTBEAT_LOST
    assert (s.light_pattern, s.amp_enabled, s.searchlight_strobe) == (LightPattern.STEADY, False, False)
    assert s.searchlight_level == pytest.approx(0.8)          # the beam stays, steady
    assert model.light_outputs(0.7) == (True, True)
    assert model.faults & Fault.HEARTBEAT_LOST
    # refused while safe, with the reason
    assert model.apply(SetLight(LightPattern.FLASH, 200, 1000), 0.6) is AckStatus.SAFE_STATE
    assert model.apply(SetAmplifier(True, 50, 1000), 0.6) is AckStatus.SAFE_STATE
    assert model.apply(SetLight(LightPattern.STEADY, 0, 1000), 0.6) is AckStatus.OK
    # heartbeats resume: safe state ends, nothing is restored, the fault stays latched
    model.heartbeat(0.7)
    assert not model.safe and not model.state.amp_enabled
    assert model.faults & Fault.HEARTBEAT_LOST
    model.apply(ClearFaults(int(Fault.HEARTBEAT_LOST)), 0.7)
    assert not model.faults & Fault.HEARTBEAT_LOST


def test_commanded_safe_state_holds_until_released() -> None:
    model = alive()
    model.apply(Safe(True), 0.0)
    keep_alive(model, 0.0, 2.0)
    assert model.safe_reasons == SafeReason.COMMANDED
    assert model.apply(SetSearchlight(500, True, 1000), 2.0) is AckStatus.SAFE_STATE
    model.apply(Safe(False), 2.0)
    assert model.apply(SetSearchlight(500, True, 1000), 2.0) is AckStatus.OK


@pytest.mark.parametrize("command", [
    SetLight(LightPattern.FLASH, 401, 1000),      # head above 4 Hz (SAE J845)
    SetLight(LightPattern.FLASH, 99, 1000),       # head below 1 Hz
    SetLight(LightPattern.ALTERNATE, 301, 1000),  # red/blue alternation above 3 Hz
    SetLight(LightPattern.STEADY, 100, 1000),     # steady has no rate
    SetLight(LightPattern.FLASH, 200, 0),         # no expiry
    SetSearchlight(1001, False, 1000),
    SetSearchlight(500, True, 30_001),            # strobe longer than the firmware limit
    SetAmplifier(True, 101, 1000),
], ids=repr)
def test_out_of_range_commands_are_refused_not_clamped(command) -> None:
    model = alive()
    before = model.snapshot(0.0)
    assert model.apply(command, 0.0) is AckStatus.OUT_OF_RANGE
    assert model.snapshot(0.0) == before


def test_every_command_lapses_at_its_duration() -> None:
    model = alive()
    model.apply(SetLight(LightPattern.FLASH, 200, 1000), 0.0)
    model.apply(SetSearchlight(700, False, 2000), 0.0)
    model.apply(SetAmplifier(True, 60, 1500), 0.0)
    keep_alive(model, 0.0, 0.9)
    assert model.state.light_pattern is LightPattern.FLASH
    keep_alive(model, 0.9, 2.0)
    s = model.state
    assert (s.light_pattern, s.amp_enabled, s.searchlight_level) == (LightPattern.OFF, False, 0.0)


def test_light_patterns_switch_heads_at_their_rate() -> None:
    model = alive()
    model.apply(SetLight(LightPattern.ALTERNATE, 200, 60_000), 0.0)   # 2 Hz: 0.5 s per cycle
    assert model.light_outputs(0.1) == (True, False)
    assert model.light_outputs(0.35) == (False, True)
    assert model.light_outputs(0.6) == (True, False)
    model.heartbeat(1.0)
    assert model.apply(SetLight(LightPattern.FLASH, 100, 60_000), 1.0) is AckStatus.OK
    assert model.light_outputs(1.2) == (True, True) and model.light_outputs(1.7) == (False, False)
    model.heartbeat(2.0)
    assert model.apply(SetLight(LightPattern.QUAD_FLASH, 100, 60_000), 2.0) is AckStatus.OK
    red = [model.light_outputs(2.0 + i / 1000)[0] for i in range(0, 500)]
    assert sum(1 for a, b in zip(red, red[1:]) if b and not a) == 3  # 4 flashes, first at t=0
    assert not any(model.light_outputs(2.5 + i / 1000)[0] for i in range(0, 500))


def test_battery_discharges_faster_under_load() -> None:
    idle, loaded = alive(), alive()
    loaded.apply(SetSearchlight(1000, False, 3_600_000), 0.0)
    loaded.apply(SetAmplifier(True, 100, 3_600_000), 0.0)
    keep_alive(idle, 0.0, 600.0, step=0.25)
    keep_alive(loaded, 0.0, 600.0, step=0.25)
    drop_idle = 0.9 - idle.state.charge
    drop_loaded = 0.9 - loaded.state.charge
    assert drop_idle > 0 and drop_loaded > 5 * drop_idle
    assert loaded.state.voltage_v < idle.state.voltage_v
    assert loaded.telemetry(600.0).battery_ma > idle.telemetry(600.0).battery_ma


def test_searchlight_temperature_rises_with_level_until_cutoff() -> None:
    dim, bright = alive(), alive()
    dim.apply(SetSearchlight(300, False, 3_600_000), 0.0)
    bright.apply(SetSearchlight(1000, False, 3_600_000), 0.0)
    keep_alive(dim, 0.0, 60.0, step=0.25)
    keep_alive(bright, 0.0, 60.0, step=0.25)
    assert 25.0 < dim.state.searchlight_temp_c < bright.state.searchlight_temp_c
    # Full beam from 60 s on: the MCU's own cutoff (95 degC) trips, reports the fault, switches
    # the beam off until 10 degC lower, and so bounds the temperature below 100 degC.
    peak, tripped, beam_off_while_tripped = 0.0, False, True
    t = 60.0
    while t < 400.0:
        keep_alive(bright, t, t + 0.5, step=0.5)
        t += 0.5
        peak = max(peak, bright.state.searchlight_temp_c)
        if bright.state.searchlight_overtemp:
            tripped = True
            beam_off_while_tripped &= bool(bright.faults & Fault.SEARCHLIGHT_OVERTEMP) and \
                bright.telemetry(t).searchlight_level_pm == 0
    assert tripped and beam_off_while_tripped
    assert 95.0 <= peak < 100.0


def test_faulty_line_drops_and_corrupts_reproducibly() -> None:
    frames = b"".join(bytes([1, 2, 3, 4, 5, 6, 7, 0]) for _ in range(1000))
    faults = LineFaults(corrupt_rate=0.01, drop_rate=0.05)
    a, b = FaultyLine(faults, seed=3), FaultyLine(faults, seed=3)
    out = a.feed(frames)
    assert out == b.feed(frames)
    assert 20 <= a.counters.dropped <= 90
    assert 30 <= a.counters.corrupted_bytes <= 120
    with pytest.raises(ValueError):
        LineFaults(drop_rate=1.5).validate()


def test_control_requests_validate_before_changing(tmp_path) -> None:
    from firmware_bridge.virtual_mcu.control import handle
    from firmware_bridge.virtual_mcu.device import VirtualMcu
    mcu = VirtualMcu(tmp_path / "mcu")          # not started: handle() needs no thread
    assert handle(mcu, {"cmd": "faults", "corrupt_rate": 0.01})["corrupt_rate"] == 0.01
    with pytest.raises(ValueError):
        handle(mcu, {"cmd": "faults", "drop_rate": 2.0, "corrupt_rate": 0.5})
    assert (mcu.faults.drop_rate, mcu.faults.corrupt_rate) == (0.0, 0.01)   # nothing half-applied
    with pytest.raises(TypeError):
        handle(mcu, {"cmd": "faults", "voltage": 3.0})
    with pytest.raises(ValueError, match="unknown cmd"):
        handle(mcu, {"cmd": "explode"})
    assert handle(mcu, {"cmd": "state"})["safe"] is True
    with pytest.raises(ValueError, match="pressed must be true or false"):
        handle(mcu, {"cmd": "button", "pressed": "yes"})
    assert handle(mcu, {"cmd": "button", "pressed": True}) == {"button_pressed": True}
    assert "BUTTON" in handle(mcu, {"cmd": "state"})["safe_reasons"]
    handle(mcu, {"cmd": "button", "pressed": False})
    assert "BUTTON" not in handle(mcu, {"cmd": "state"})["safe_reasons"]
    assert handle(mcu, {"cmd": "charge", "charge": 0.15}) == {"charge": 0.15}
    with pytest.raises(ValueError, match="charge must be within 0..1"):
        handle(mcu, {"cmd": "charge", "charge": 1.5})
    with pytest.raises(ValueError):
        handle(mcu, {"cmd": "charge"})
    state = handle(mcu, {"cmd": "state"})
    assert state["charge"] < 0.16 and state["line_faults"]["corrupt_rate"] == 0.01
