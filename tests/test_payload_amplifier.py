"""Amplifier core: deadline on every enable, refusals (safe state, hot, out of range), derating."""
from __future__ import annotations

import pytest

from firmware_bridge.messages import SetAmplifier
from robot_dog.payload.amplifier import (
    AmplifierConfig, AmplifierReport, derating_factor, plan_amplifier)
from robot_dog.payload.errors import RequestRefused


def state(temp_c: float = 30.0, safe: bool = False, overtemp: bool = False) -> AmplifierReport:
    return AmplifierReport(False, 0.0, temp_c, overtemp, safe, 0.0)


def test_enable_carries_a_deadline_and_the_cap() -> None:
    assert plan_amplifier(True, 0.6, 0.0, state()) == SetAmplifier(True, 60, 5000)
    assert plan_amplifier(True, 0.6, 2.5, None) == SetAmplifier(True, 60, 2500)
    assert plan_amplifier(False, 0.0, 0.0, state(safe=True)) == SetAmplifier(False, 0, 5000)


@pytest.mark.parametrize("kwargs, match", [
    (dict(volume=1.2), "outside"), (dict(volume=float("nan")), "outside"),
    (dict(duration_s=-1), "duration"), (dict(duration_s=1e6), "limit"),
    (dict(st=state(safe=True)), "safe state"), (dict(st=state(overtemp=True)), "too hot"),
    (dict(st=state(temp_c=86)), "too hot"),
])
def test_refusals_say_why(kwargs: dict, match: str) -> None:
    args = dict(volume=0.5, duration_s=0.0, st=state()) | kwargs
    with pytest.raises(RequestRefused, match=match):
        plan_amplifier(True, args["volume"], args["duration_s"], args["st"])


def test_cap_above_the_configured_maximum_is_refused_not_clamped() -> None:
    with pytest.raises(RequestRefused, match="above the cap 0.7"):
        plan_amplifier(True, 0.8, 0.0, state(), AmplifierConfig(max_volume=0.7))


def test_derating_lowers_the_cap_when_hot() -> None:
    assert derating_factor(60.0) == 1.0 and derating_factor(None) == 1.0
    assert derating_factor(77.5) == pytest.approx(0.75)
    assert plan_amplifier(True, 0.8, 0.0, state(temp_c=77.5)).volume_cap_pct == 60
