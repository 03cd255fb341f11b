"""The motion chain on a fake clock: watchdog, e-stop categories, modes, caps, logging."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import CONTROLLED, IMMEDIATE
from robot_dog.safety.motion import MotionConfig, MotionCore
from robot_dog.safety.twist import ZERO, Twist

TICK = 0.02


def run(core: MotionCore, start: float, end: float) -> list[tuple[float, Twist | None]]:
    out, n = [], 0
    while start + n * TICK <= end + 1e-9:
        t = round(start + n * TICK, 6)
        out.append((t, core.step(t)))
        n += 1
    return out


def drive(core: MotionCore, source: str, vx: float, start: float, end: float) -> None:
    """`source` commands `vx` on every tick from `start` to `end` (inclusive), stepping each."""
    n = 0
    while start + n * TICK <= end + 1e-9:
        t = round(start + n * TICK, 6)
        core.command(source, (vx, 0, 0), (0, 0, 0), t)
        core.step(t)
        n += 1


def test_watchdog_zeroes_within_half_a_second_then_stays_silent():
    core = MotionCore()
    for i in range(10):
        core.command("handheld", (0.5, 0, 0), (0, 0, 0), i * TICK)
        core.step(i * TICK)
    last_command = 9 * TICK
    trace = run(core, 10 * TICK, 2.0)
    zeros = [t for t, out in trace if out == ZERO]
    assert zeros and zeros[0] - last_command <= 0.5
    assert [out for t, out in trace if t > zeros[0]] == [None] * len([t for t, _ in trace if t > zeros[0]])
    assert any("watchdog: handheld quiet for more than 0.4 s: zero velocity" in m for m in core.take_log())


def test_config_cannot_promise_a_late_zero():
    with pytest.raises(ValueError, match="at most 0.5 s"):
        MotionConfig(watchdog_s=0.5, tick_s=0.02)


def test_higher_input_takes_over_and_the_patrol_waits_for_resume_after_it():
    core = MotionCore()
    core.resume("patrol")
    drive(core, "patrol", 0.2, 0.0, 0.3)
    assert core.output.vx == pytest.approx(0.2)
    core.command("handheld", (-0.1, 0, 0), (0, 0, 0), 0.3)
    assert core.step(0.32) == Twist(pytest.approx(-0.02), 0, 0)        # reversing: via zero, then ramps
    log = core.take_log()
    assert "winner patrol -> handheld: handheld is the highest live input (priority 100)" in log
    assert "interlock: patrol waits for motion/resume (handheld took control)" in log
    drive(core, "patrol", 0.2, 0.34, 2.0)                # the handheld went quiet: no fall-back
    assert core.output == ZERO and core.waiting() == ("handheld", "patrol")  # handheld: lapsed


def test_immediate_and_controlled_estop():
    core = MotionCore()
    drive(core, "handheld", 1.0, 0.0, 1.2)
    assert core.output.vx == pytest.approx(1.0)
    core.set_estop(True, CONTROLLED, 1.2)
    trace = [out.vx for _, out in run(core, 1.22, 2.0)]
    assert trace[0] == pytest.approx(0.96) and trace[24] == 0.0 and all(
        b <= a for a, b in zip(trace, trace[1:]))
    assert all(v == 0.0 for v in trace[24:])            # held: zero on every tick
    core.set_estop(True, IMMEDIATE, 2.0)
    core.set_estop(False, None, 2.1)
    core.command("handheld", (0.0, 0, 0), (0, 0, 0), 2.1)   # re-centred: a fresh deflection drives
    core.command("handheld", (1.0, 0, 0), (0, 0, 0), 2.1)
    first = core.step(2.1).vx                            # fresh command ramps from zero
    assert 0 < first <= 0.04 + 1e-9                      # a late tick: at most two ticks' step
    assert core.step(2.12).vx == pytest.approx(first + 0.02)

    core = MotionCore()
    drive(core, "handheld", 1.0, 0.0, 1.2)
    core.set_estop(True, IMMEDIATE, 1.2)
    assert core.step(1.22) == ZERO


def test_commands_from_before_the_estop_never_resume_motion():
    core = MotionCore()
    core.command("handheld", (0.5, 0, 0), (0, 0, 0), 0.0)
    core.set_estop(True, IMMEDIATE, 0.05)
    core.step(0.06)
    core.set_estop(False, None, 0.1)
    assert core.step(0.12) == ZERO and core.step(0.14) is None


def test_modes_and_refusals_are_logged():
    core = MotionCore()
    drive(core, "handheld", 0.3, 0.0, 0.2)
    with pytest.raises(Refused, match="cannot sit while moving"):
        core.request_mode("sit")
    core.command("handheld", (0, 0, 0), (0, 0, 0), 0.22)
    core.step(0.22)
    assert core.request_mode("sit") == "sit"
    with pytest.raises(Refused, match="base is in sit: stand first"):
        core.command("handheld", (0.3, 0, 0), (0, 0, 0), 0.24)
    with pytest.raises(Refused, match="not finite"):
        core.command("handheld", (math.nan, 0, 0), (0, 0, 0), 0.24)
    with pytest.raises(Refused, match="unknown mode"):
        core.request_mode("run")
    core.set_speed_mode("crowd")
    core.request_mode("stand")
    assert core.command("station", (0.9, 0, 0), (0, 0, 0), 0.3) == Twist(0.5, 0, 0)
    log = core.take_log()
    assert "refused handheld command: base is in sit: stand first" in log
    assert "station command limited by crowd mode: linear 0.9 -> 0.5 m/s" in log
    core.command("station", (0.8, 0, 0), (0, 0, 0), 0.32)         # still capped: not logged again
    core.command("station", (0.4, 0, 0), (0, 0, 0), 0.34)
    core.command("station", (0.9, 0, 0), (0, 0, 0), 0.36)         # capped again: logged again
    assert [line for line in core.take_log() if "limited by" in line] == [
        "station command limited by crowd mode: linear 0.9 -> 0.5 m/s"]
    assert "mode stand -> sit" in log and "speed mode normal -> crowd" in log


def test_crowd_mode_applies_to_a_command_already_live():
    core = MotionCore()
    drive(core, "handheld", 1.0, 0.0, 1.2)
    assert core.output.vx == pytest.approx(1.0)
    core.set_speed_mode("crowd")
    assert core.step(1.22).vx == 0.5            # slowing down to the new cap is immediate


step_ops = st.lists(st.tuples(
    st.sampled_from(["handheld", "station", "patrol", None]),
    st.floats(-1.5, 1.5), st.floats(-1.5, 1.5),
    st.sampled_from([None, None, None, "engage", "stale", "release", "crowd", "normal"]),
    st.integers(1, 40)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(step_ops)
def test_output_invariants_hold_for_any_script(script):
    """Output never exceeds the mode's cap, never speeds up faster than the limit, is zero at
    the first tick of an immediate e-stop, and is zero within 0.5 s of the last accepted command."""
    core, t, last_accepted = MotionCore(), 0.0, None
    limits = core.config.limits
    for source, vx, wz, event, ticks in script:
        if event == "engage":
            core.set_estop(True, IMMEDIATE, t)
        elif event == "stale":
            core.set_estop(True, CONTROLLED, t)
        elif event == "release":
            core.set_estop(False, None, t)
        elif event in ("crowd", "normal"):
            core.set_speed_mode(event)
        for _ in range(ticks):
            if source is not None:
                try:
                    core.command(source, (vx, 0, 0), (0, 0, wz), t)
                    last_accepted = t
                except Refused:
                    pass
            before = core.output
            out = core.step(t)
            lin, ang = limits.caps(core.speed_mode)
            if out is not None:
                assert abs(out.vx) <= max(lin, abs(before.vx)) + 1e-9
                assert abs(out.wz) <= max(ang, abs(before.wz)) + 1e-9
                assert abs(out.vx) <= abs(before.vx) + limits.accel_linear * TICK + 1e-9 or \
                    abs(out.vx) <= limits.accel_linear * TICK + 1e-9
            if event == "engage" and core._estop_category == IMMEDIATE:
                assert out == ZERO
            if last_accepted is not None and t - last_accepted > 0.5 - 1e-9:
                assert out in (None, ZERO)
            t = round(t + TICK, 6)
        source = None  # then silence for the next op's ticks unless it speaks
