"""Twist checks and speed/acceleration limits: refusals with reasons, caps reported, ramps."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from robot_dog.safety.errors import Refused
from robot_dog.safety.limits import Limits, cap, decelerate, ramp
from robot_dog.safety.twist import ZERO, Twist, check_twist

LIMITS = Limits()


@pytest.mark.parametrize("linear, angular, words", [
    ((math.nan, 0, 0), (0, 0, 0), "linear.x is nan"),
    ((0, math.inf, 0), (0, 0, 0), "linear.y is inf"),
    ((0, 0, 0), (0, 0, -math.inf), "angular.z is -inf"),
    ((0, 0, 0.1), (0, 0, 0), "linear.z must be 0"),
    ((0, 0, 0), (0.2, 0, 0), "angular.x must be 0"),
    ((1.5, 0, 0), (0, 0, 0), "above the limit 1 m/s"),
    ((0.8, 0.8, 0), (0, 0, 0), "linear speed 1.13 m/s above"),
    ((0, 0, 0), (0, 0, 2.0), "angular speed 2 rad/s above"),
    (("1", 0, 0), (0, 0, 0), "not a number"),
    ((True, 0, 0), (0, 0, 0), "not a number"),
])
def test_bad_twists_are_refused_with_a_reason(linear, angular, words):
    with pytest.raises(Refused) as err:
        check_twist(linear, angular, 1.0, 1.0)
    assert words in err.value.reason


def test_good_twist_passes_unchanged():
    assert check_twist((0.6, -0.2, 0), (0, 0, 0.9), 1.0, 1.0) == Twist(0.6, -0.2, 0.9)


def test_crowd_cap_scales_and_says_so():
    twist, note = cap(Twist(0.8, 0.6, 1.0), *LIMITS.caps("crowd"))
    assert math.hypot(twist.vx, twist.vy) == pytest.approx(0.5)
    assert twist.vx / twist.vy == pytest.approx(0.8 / 0.6)       # direction kept
    assert "linear 1 -> 0.5 m/s" in note
    assert cap(Twist(0.3, 0, 0.5), *LIMITS.caps("crowd")) == (Twist(0.3, 0, 0.5), "")
    with pytest.raises(ValueError):
        LIMITS.caps("sprint")


def test_limits_refuse_nonsense_config():
    with pytest.raises(ValueError):
        Limits(max_linear=math.nan)
    with pytest.raises(ValueError):
        Limits(crowd_linear=2.0)


def test_ramp_limits_speeding_up_not_slowing_down():
    out = ramp(ZERO, Twist(1.0, 0, 1.0), 0.1, LIMITS)
    assert out == Twist(pytest.approx(0.1), 0, pytest.approx(0.2))
    assert ramp(Twist(0.9, 0, 0), Twist(0.1, 0, 0), 0.01, LIMITS) == Twist(0.1, 0, 0)
    assert ramp(Twist(0.9, 0, 0), ZERO, 0.0, LIMITS) == ZERO
    # reversing: straight to zero, then speeding up the other way at the limit
    assert ramp(Twist(0.9, 0, 0), Twist(-1.0, 0, 0), 0.1, LIMITS).vx == pytest.approx(-0.1)


def test_controlled_stop_decelerates_to_zero_then_stays():
    out, steps = Twist(1.0, 0, 1.0), 0
    while out != ZERO:
        out, steps = decelerate(out, 0.02, LIMITS), steps + 1
    assert steps == 25                       # 1 m/s at 2 m/s^2 = 0.5 s = 25 ticks of 20 ms
    assert decelerate(ZERO, 0.02, LIMITS) == ZERO


speeds = st.floats(-1.0, 1.0, allow_nan=False)


@given(st.tuples(speeds, speeds, speeds), st.tuples(speeds, speeds, speeds),
       st.floats(0.0, 0.2))
def test_ramp_never_speeds_up_faster_than_the_limit(cur, tgt, dt):
    out = ramp(Twist(*cur), Twist(*tgt), dt, LIMITS)
    for c, t, o, a in zip(cur, tgt, (out.vx, out.vy, out.wz),
                          (LIMITS.accel_linear, LIMITS.accel_linear, LIMITS.accel_angular)):
        assert abs(o) <= max(abs(c), 0.0) + a * dt + 1e-12 or abs(o) <= a * dt + 1e-12
        assert abs(o) <= abs(t) + 1e-12                   # never beyond the target
        assert o == 0.0 or math.copysign(1, o) == math.copysign(1, t)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6),
       st.sampled_from(["normal", "crowd"]))
def test_cap_output_is_always_within_the_mode(vx, vy, wz, mode):
    twist, note = cap(Twist(vx, vy, wz), *LIMITS.caps(mode))
    lin, ang = LIMITS.caps(mode)
    assert math.hypot(twist.vx, twist.vy) <= lin + 1e-9 and abs(twist.wz) <= ang
    assert bool(note) == (math.hypot(vx, vy) > lin or abs(wz) > ang)


def test_refusals_carry_stable_codes():
    from robot_dog.safety.errors import Refused
    from robot_dog.safety.twist import check_twist
    for linear, angular, code in (((float("nan"), 0, 0), (0, 0, 0), "not_finite"),
                                  (("1", 0, 0), (0, 0, 0), "not_a_number"),
                                  ((True, 0, 0), (0, 0, 0), "not_a_number"),
                                  ((0, 0, 0.1), (0, 0, 0), "not_planar"),
                                  ((2.0, 0, 0), (0, 0, 0), "above_limit"),
                                  ((0, 0, 0), (0, 0, 3.0), "above_limit")):
        with pytest.raises(Refused) as refused:
            check_twist(linear, angular, 1.0, 1.0)
        assert refused.value.code == code
