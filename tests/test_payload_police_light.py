"""Police light pattern library and its limits (SAE J845 head rate, 3 Hz alternation, crowd mode)."""
from __future__ import annotations

import dataclasses
import math

import pytest

from firmware_bridge.messages import LightPattern, SafeReason, SetLight
from firmware_bridge.virtual_mcu.model import RATE_LIMITS_CHZ, McuModel
from robot_dog.payload.errors import RequestRefused
from robot_dog.payload.estop import EstopGate
from robot_dog.payload.police_light import (
    ALTERNATION_MAX_HZ, CROWD_SAFE_FLASHES_PER_S, HEAD_MAX_HZ, HEAD_MIN_HZ, PATTERNS,
    PoliceLightConfig, plan_light, report_from,
)

OPEN = PoliceLightConfig(crowd_mode=False)


@pytest.mark.parametrize("name", [n for n, s in PATTERNS.items() if s.has_rate])
def test_every_default_rate_is_within_limits(name: str) -> None:
    command = plan_light(name, 0.0, 0.0, OPEN)
    assert HEAD_MIN_HZ <= command.rate_hz <= HEAD_MAX_HZ
    assert command.alternation_hz <= ALTERNATION_MAX_HZ


def test_crowd_safe_default_is_at_most_3_flashes_per_s() -> None:
    for name in ("flash", "alternate"):
        assert plan_light(name, 0.0, 0.0).flashes_per_s <= CROWD_SAFE_FLASHES_PER_S
    with pytest.raises(RequestRefused, match="crowd mode: quad_flash"):
        plan_light("quad_flash", 0.0, 0.0)
    with pytest.raises(RequestRefused, match="crowd mode"):
        plan_light("alternate", 2.0, 0.0)         # 4 flashes/s
    assert plan_light("quad_flash", 0.0, 0.0, OPEN).spec.pattern is LightPattern.QUAD_FLASH


@pytest.mark.parametrize("pattern, rate, words", [
    ("flash", 50.0, "outside 1-4 Hz"),
    ("flash", 0.5, "outside 1-4 Hz"),
    ("flash", 4.01, "outside 1-4 Hz"),
    ("alternate", 3.5, "alternation 3.5 Hz above 3 Hz"),
    ("quad_flash", 3.2, "alternation"),
    ("steady", 2.0, "has no rate"),
    ("flash", math.nan, "not a rate"),
    ("flash", -1.0, "not a rate"),
    ("disco", 0.0, "unknown pattern"),
])
def test_out_of_range_is_refused_with_reason(pattern: str, rate: float, words: str) -> None:
    with pytest.raises(RequestRefused) as info:
        plan_light(pattern, rate, 10.0, OPEN)
    assert words in info.value.reason


@pytest.mark.parametrize("duration, words", [(-1.0, ">= 0"), (1e6, "above"), (math.inf, ">= 0")])
def test_bad_durations_are_refused(duration: float, words: str) -> None:
    with pytest.raises(RequestRefused, match=words):
        plan_light("steady", 0.0, duration)


def test_zero_duration_means_default_deadline() -> None:
    assert plan_light("steady", 0.0, 0.0).duration_s == PoliceLightConfig().default_duration_s


def test_host_limits_match_the_mcu_limits() -> None:
    """Everything the host accepts, the MCU accepts; the MCU refuses what the host refuses."""
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    for name, spec in PATTERNS.items():
        low, high = RATE_LIMITS_CHZ[spec.pattern]
        if spec.has_rate:
            assert (low / 100, high / 100) == (HEAD_MIN_HZ, spec.max_hz)
            wire = plan_light(name, spec.max_hz, 5.0, OPEN).to_wire()
        else:
            wire = plan_light(name, 0.0, 5.0, OPEN).to_wire()
        assert model.apply(wire, 0.0).name == "OK"


def test_wire_command_and_state_report() -> None:
    wire = plan_light("alternate", 1.5, 20.0).to_wire()
    assert wire == SetLight(LightPattern.ALTERNATE, 150, 20_000)
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.apply(wire, 0.0)
    report = report_from(model.telemetry(0.1))
    assert (report.pattern, report.rate_hz, report.alternation_hz) == ("alternate", 1.5, 1.5)
    assert (report.red_on, report.blue_on, report.safe_state) == (True, False, False)
    assert report.remaining_s == pytest.approx(19.9, abs=0.01)
    model.step(1.0)                                   # heartbeat lost
    assert report_from(model.telemetry(1.0)).safe_state
    assert model.safe_reasons == SafeReason.HEARTBEAT_LOST


def test_estop_gate_sends_safe_on_change_and_refuses() -> None:
    gate = EstopGate()
    gate.check()
    assert gate.update(True, "handheld").engage is True
    assert gate.update(True, "handheld") is None         # no change, nothing to send
    with pytest.raises(RequestRefused, match="e-stop engaged \\(handheld\\)"):
        gate.check()
    assert gate.sync().engage is True
    assert gate.update(False).engage is False
    gate.check()


@pytest.mark.parametrize("name", ["Flash", "FLASH", " flash", "flash ", "flash\x00", "flash\n"])
def test_only_exact_pattern_names(name: str) -> None:
    with pytest.raises(RequestRefused, match="unknown pattern"):
        plan_light(name, 0.0, 10.0)


def test_refusal_quotes_only_a_short_prefix_of_the_input() -> None:
    with pytest.raises(RequestRefused) as info:
        plan_light("x" * 10_000, 0.0, 10.0)
    assert len(info.value.reason) < 200 and "10000 characters" in info.value.reason


def test_crowd_mode_refusals_say_what_works() -> None:
    with pytest.raises(RequestRefused) as info:
        plan_light("quad_flash", 0.0, 10.0)
    assert "not crowd-safe at any rate" in info.value.reason and "--no-crowd" in info.value.reason
    with pytest.raises(RequestRefused) as info:
        plan_light("alternate", 2.0, 10.0)
    assert "at most 1.5 Hz in crowd mode" in info.value.reason
    assert plan_light("quad_flash", 0.0, 10.0, PoliceLightConfig(crowd_mode=False)).rate_hz == 1.0


def test_unknown_pattern_from_a_newer_mcu_is_reported_as_unknown() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    t = dataclasses.replace(model.telemetry(0.1), light_pattern=9, safe_reasons=SafeReason(0x80))
    report = report_from(t)
    assert report.pattern == "unknown_9" and report.safe_state   # unknown safe bit: safe
