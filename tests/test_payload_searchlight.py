"""Searchlight limits, strobe duration cap and thermal derating."""
from __future__ import annotations

import math

import pytest

from robot_dog.payload.errors import RequestRefused
from robot_dog.payload.searchlight import (
    SearchlightConfig, SearchlightCore, derating_factor, plan_searchlight,
)

CFG = SearchlightConfig()


@pytest.mark.parametrize("level", [3.0, -0.1, math.nan, 1.0001])
def test_level_outside_0_1_is_refused(level: float) -> None:
    with pytest.raises(RequestRefused, match="outside 0..1"):
        plan_searchlight(level, False, 10.0)


def test_strobe_is_limited_in_duration() -> None:
    assert plan_searchlight(1.0, True, 0.0).duration_s == CFG.max_strobe_s   # default = the cap
    assert plan_searchlight(1.0, True, 5.0).duration_s == 5.0
    with pytest.raises(RequestRefused, match="above the 10 s limit"):
        plan_searchlight(1.0, True, 60.0)
    with pytest.raises(RequestRefused, match="level above 0"):
        plan_searchlight(0.0, True, 5.0)
    assert plan_searchlight(1.0, False, 600.0).duration_s == 600.0


def test_derating_curve() -> None:
    assert derating_factor(None) == 1.0
    assert derating_factor(CFG.derate_start_c) == 1.0
    mid = (CFG.derate_start_c + CFG.derate_full_c) / 2
    assert derating_factor(mid) == pytest.approx((1.0 + CFG.min_factor) / 2)
    assert derating_factor(CFG.derate_full_c) == CFG.min_factor
    assert derating_factor(CFG.cutoff_c) == 0.0
    temps = [20 + i * 0.5 for i in range(160)]
    factors = [derating_factor(t) for t in temps]
    assert all(a >= b for a, b in zip(factors, factors[1:]))   # never brighter when hotter


def test_core_relevels_as_temperature_rises_and_keeps_the_request() -> None:
    core = SearchlightCore()
    first = core.set(plan_searchlight(0.8, False, 30.0), now=0.0)
    assert (first.level_pm, first.duration_ms) == (800, 30_000)
    assert core.on_temperature(40.0, now=1.0) is None           # no derating, no resend
    assert core.on_temperature(60.5, now=2.0) is None           # moved less than the step
    hot = core.on_temperature(75.0, now=3.0)
    assert hot is not None and hot.level_pm == round(0.8 * derating_factor(75.0) * 1000)
    assert hot.duration_ms == 27_000                            # the request's expiry stands
    assert core.derating and core.request.level == 0.8
    off = core.on_temperature(95.0, now=4.0)
    assert off is not None and off.level_pm == 0
    back = core.on_temperature(30.0, now=5.0)
    assert back is not None and back.level_pm == 800
    assert core.on_temperature(80.0, now=31.0) is None          # lapsed: nothing to drive


def test_level_requested_ends_when_the_request_lapses() -> None:
    core = SearchlightCore()
    core.set(plan_searchlight(0.7, False, 10.0), now=0.0)
    assert core.active(9.9).level == 0.7
    assert core.active(10.0) is None              # lapsed: the MCU turned the beam off


def test_reduce_only_requests() -> None:
    core = SearchlightCore()
    assert core.reduces(plan_searchlight(0.0, False, 0.0), now=0.0)      # off: always
    assert not core.reduces(plan_searchlight(0.2, False, 5.0), now=0.0)  # nothing on yet
    core.set(plan_searchlight(0.6, False, 100.0), now=0.0)
    assert core.reduces(plan_searchlight(0.3, False, 50.0), now=10.0)
    assert not core.reduces(plan_searchlight(0.3, False, 95.0), now=10.0)  # outlasts the beam
    assert not core.reduces(plan_searchlight(0.8, False, 5.0), now=10.0)   # brighter
    assert not core.reduces(plan_searchlight(0.3, True, 5.0), now=10.0)    # strobe
