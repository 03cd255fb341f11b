"""The restart interlock on a fake clock: after any stop nothing drives until its own source acts
again deliberately (a stick re-centred then deflected; an autonomous input resumed)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import CONTROLLED, IMMEDIATE
from robot_dog.safety.motion import MotionConfig, MotionCore
from robot_dog.safety.mux import ESTOP_LOCK, LockSpec
from robot_dog.safety.twist import ZERO

TICK = 0.02


def feed(core: MotionCore, source: str, vx: float, start: float, end: float,
         age: float | None = None) -> float:
    """`source` commands `vx` every tick over [start, end], stepping each; returns the end."""
    t = start
    while t <= end + 1e-9:
        try:
            core.command(source, (vx, 0, 0), (0, 0, 0), t, None if age is None else t - age)
        except Refused:
            pass
        core.step(t)
        t = round(t + TICK, 6)
    return t


def idle(core: MotionCore, start: float, end: float) -> list:
    out, t = [], start
    while t <= end + 1e-9:
        out.append(core.step(t))
        t = round(t + TICK, 6)
    return out


def estop_cycle(core: MotionCore, t: float) -> None:
    core.set_estop(True, IMMEDIATE, t, (("station", "a"),))
    core.step(t)
    core.set_estop(False, None, t + 0.1, ())


def test_a_release_never_restarts_the_patrol_that_keeps_publishing():
    core = MotionCore()
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    assert core.output.vx == pytest.approx(0.3)
    estop_cycle(core, 1.0)
    feed(core, "patrol", 0.3, 1.1, 5.0)
    assert core.output == ZERO and core.waiting() == ("patrol",)
    assert core.resume("patrol") == "patrol resumed"
    feed(core, "patrol", 0.3, 5.0, 6.0)
    assert core.output.vx == pytest.approx(0.3)


def test_resume_is_refused_with_codes():
    core = MotionCore()
    core.set_estop(True, CONTROLLED, 0.0, (("mcu", "a"),))
    for name, code in (("patrol", "estop_engaged"),):
        with pytest.raises(Refused) as refused:
            core.resume(name)
        assert refused.value.code == code
    core.set_estop(False, None, 0.1, ())
    for name, code in (("handheld", "not_resumable"), ("dispatch", "unknown_input")):
        with pytest.raises(Refused) as refused:
            core.resume(name)
        assert refused.value.code == code


def test_a_resume_right_after_the_release_is_not_refused_as_locked():
    """The e-stop's lock is judged when it changes, not on the next step: a patrol resumed the
    moment the release is seen (no tick between: a paced tick at rest comes up to 0.5 s later)
    drives on its next command."""
    core = MotionCore(MotionConfig(locks=(ESTOP_LOCK, LockSpec("autonomy", 50))))
    core.resume("patrol")
    for t, engaged in ((1.0, True), (1.05, True), (1.1, False)):
        core.set_lock("autonomy", False, t)     # as safety_node applies every e-stop change
        core.set_estop(engaged, IMMEDIATE if engaged else None, t, (("station", "a"),) if engaged else ())
    core.resume("patrol")
    feed(core, "patrol", 0.3, 1.12, 1.3)
    assert core.winner == "patrol" and core.output.vx > 0


def test_letting_go_of_the_stick_stops_the_dog_and_the_patrol_stays_paused():
    core = MotionCore()
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    feed(core, "handheld", 0.5, 1.0, 2.0)               # the officer takes over
    assert core.winner == "handheld"
    feed(core, "handheld", 0.0, 2.0, 2.02)              # lets go: the page sends zero, then stops
    trace = []
    t = 2.04
    while t < 6.0:                                       # the patrol keeps publishing
        core.command("patrol", (0.3, 0, 0), (0, 0, 0), t)
        trace.append(core.step(t))
        t = round(t + TICK, 6)
    assert all(out in (None, ZERO) for out in trace)
    assert core.waiting() == ("patrol",)
    feed(core, "handheld", 0.4, 6.0, 7.0)                # let go cleanly: the next touch drives
    assert core.output.vx == pytest.approx(0.4)


def test_a_lapse_mid_drive_needs_the_stick_re_centred_and_buffered_frames_are_dropped():
    core = MotionCore()
    feed(core, "handheld", 0.5, 0.0, 1.0)
    assert core.output.vx == pytest.approx(0.5)
    assert idle(core, 1.02, 1.6)[-1] is None             # 0.6 s frozen: zero, then silence
    assert core.waiting() == ("handheld", "patrol")
    feed(core, "handheld", 0.5, 1.62, 1.7, age=0.6)      # the stalled link's buffer: too old
    assert _refusal(core, "handheld", 0.5, 1.72, age=0.6).code == "stale_frame"
    feed(core, "handheld", 0.5, 1.72, 3.0)               # fresh, but still deflected: held
    assert core.output == ZERO
    feed(core, "handheld", 0.0, 3.0, 3.1)                # re-centred
    feed(core, "handheld", 0.5, 3.1, 4.0)                # deflected again
    assert core.output.vx == pytest.approx(0.5)


def _refusal(core: MotionCore, source: str, vx: float, t: float, age: float) -> Refused:
    with pytest.raises(Refused) as refused:
        core.command(source, (vx, 0, 0), (0, 0, 0), t, t - age)
    return refused.value


def test_frames_within_the_age_bound_drive():
    core = MotionCore()
    feed(core, "handheld", 0.5, 0.0, 1.0, age=0.1)
    assert core.output.vx == pytest.approx(0.5)
    assert _refusal(core, "handheld", 0.5, 1.1, age=0.31).code == "stale_frame"


def test_a_stick_held_through_an_estop_must_be_re_centred_one_at_neutral_need_not():
    core = MotionCore()
    feed(core, "handheld", 0.5, 0.0, 1.0)
    feed(core, "gamepad", 0.0, 0.0, 0.1)                 # the gamepad spoke once, at neutral
    estop_cycle(core, 1.0)
    feed(core, "handheld", 0.5, 1.1, 2.0)
    assert core.output == ZERO and "handheld" in core.waiting()
    feed(core, "gamepad", 0.3, 2.6, 3.5)                 # at neutral through it: may drive
    assert core.output.vx == pytest.approx(0.3) and "gamepad" not in core.waiting()


def test_an_estop_engaged_while_held_and_every_new_hold_disarms():
    core = MotionCore()
    feed(core, "handheld", 0.0, 0.0, 0.1)
    core.set_estop(True, CONTROLLED, 0.2, (("mcu", "a"),))
    feed(core, "handheld", 0.4, 0.2, 0.4)                # deflected while held
    core.set_estop(True, CONTROLLED, 0.5, (("mcu", "a"), ("button", "b")))
    core.set_estop(True, CONTROLLED, 0.6, (("button", "b"),))
    core.set_estop(False, None, 0.7, ())
    feed(core, "handheld", 0.4, 0.7, 1.5)
    assert core.output == ZERO


def test_a_lock_is_a_stop_and_unlocking_resumes_nothing():
    core = MotionCore()
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    assert "pause" not in {lk.name for lk in core.config.locks}  # default: only the e-stop lock
    from robot_dog.safety.motion import MotionConfig
    from robot_dog.safety.mux import DEFAULT_LOCKS
    core = MotionCore(MotionConfig(locks=DEFAULT_LOCKS))
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    core.set_lock("pause", True, 1.0)
    feed(core, "patrol", 0.3, 1.0, 1.5)
    core.set_lock("pause", False, 1.5)
    feed(core, "patrol", 0.3, 1.5, 3.0)
    assert core.output == ZERO and core.waiting() == ("patrol",)
    with pytest.raises(Refused) as refused:
        core.set_lock("pause", True, 3.0)
        core.resume("patrol")
    assert refused.value.code == "locked"


def test_a_patrol_that_lapses_is_paused():
    core = MotionCore()
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    idle(core, 1.02, 1.6)
    feed(core, "patrol", 0.3, 1.62, 3.0)
    assert core.output == ZERO and core.waiting() == ("patrol",)


def test_a_patrol_that_stopped_itself_with_a_zero_stays_armed_for_its_next_goal():
    """A goal that ends sends one zero, then silence: no stop of a moving dog, so the next goal
    drives without a resume. Silence mid-drive (above) pauses it."""
    core = MotionCore()
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    feed(core, "patrol", 0.0, 1.02, 1.1)          # the goal's end: a zero
    idle(core, 1.12, 3.0)                          # silence between goals
    feed(core, "patrol", 0.3, 3.02, 4.0)
    assert core.output.vx > 0 and core.waiting() == ()


def test_a_deflection_sent_before_the_release_and_heard_after_it_must_be_re_centred():
    """The stick let go, the dog held; the officer deflects it and the release overtakes that
    frame on its way: the frame was sent while the dog was held, so it was held through the
    stop (a benchmark's restarts after a handheld close, 3 of 1,050)."""
    core = MotionCore()
    feed(core, "handheld", 0.5, 0.0, 0.5, age=0.02)
    feed(core, "handheld", 0.0, 0.52, 0.6, age=0.02)    # let go: the page's stop
    core.set_estop(True, CONTROLLED, 0.7, (("handheld", "a"),))
    core.step(0.7)
    core.set_estop(False, None, 1.1, ())                 # released at 1.1 ...
    core.command("handheld", (0.5, 0, 0), (0, 0, 0), 1.12, 1.08)   # ... a frame sent at 1.08
    feed(core, "handheld", 0.5, 1.14, 2.0, age=0.02)
    assert core.output == ZERO and "handheld" in core.waiting()
    feed(core, "handheld", 0.0, 2.02, 2.1, age=0.02)     # re-centred, then deflected anew
    feed(core, "handheld", 0.4, 2.12, 2.6, age=0.02)
    assert core.output.vx == pytest.approx(0.4)


def test_a_stick_deflected_while_the_base_sits_must_be_re_centred_after_it_stands():
    core = MotionCore()
    feed(core, "handheld", 0.0, 0.0, 0.1)                # at neutral
    core.set_estop(True, CONTROLLED, 0.2, (("station", "a"),))
    idle(core, 0.2, 2.3)
    assert core.settle_due(2.3) == "sit"
    core.request_mode("sit")
    assert _refusal(core, "handheld", 0.5, 2.4, age=0.0).code == "base_not_standing"   # heard all the same
    feed(core, "handheld", 0.5, 2.42, 3.0)
    core.set_estop(False, None, 3.0, ())
    core.request_mode("stand")
    feed(core, "handheld", 0.5, 3.02, 4.0)
    assert core.output == ZERO and "handheld" in core.waiting()
    feed(core, "handheld", 0.0, 4.02, 4.1)
    feed(core, "handheld", 0.5, 4.12, 4.6)
    assert core.output.vx > 0


def test_stop_category_1_sits_after_the_settle_time_and_a_release_never_stands():
    core = MotionCore()
    feed(core, "handheld", 0.5, 0.0, 1.0)
    core.set_estop(True, IMMEDIATE, 1.0, (("station", "a"),))
    core.step(1.0)
    assert core.settle_due(2.9) is None
    assert core.settle_due(3.0) == "sit" and core.settle_due(3.1) is None  # asked once
    core.request_mode("sit")
    with pytest.raises(Refused) as refused:
        core.request_mode("stand")
    assert refused.value.code == "estop_engaged"
    core.set_estop(False, None, 4.0, ())
    assert core.mode == "sit" and core.settle_due(10.0) is None
    assert core.request_mode("stand") == "stand"         # a deliberate stand after the release


events = st.lists(st.tuples(
    st.sampled_from(["handheld", "gamepad", "patrol", None]),
    st.sampled_from([0.0, 0.0, 0.3, -0.4]),
    st.sampled_from([None, None, None, "engage", "release", "resume", "gap"]),
    st.integers(1, 30),
    st.sampled_from([None, None, 0.05])), max_size=40)   # a stamped frame's time on its way


@settings(max_examples=300, deadline=None)
@given(events)
def test_no_input_drives_after_a_stop_without_its_own_deliberate_action(script):
    """Model check: after any stop (e-stop change, watchdog lapse), an input drives only if,
    since that stop, it was resumed (patrol) or was seen at neutral (a stick); or, a stick,
    if its last frame before the stop was neutral. A stamped stick frame sent before the last
    stop and heard after it only tells that the stick was held through the stop."""
    core, t, engaged, n, stopped = MotionCore(), 0.0, False, 0, float("-inf")
    fresh: dict[str, bool] = {"handheld": True, "gamepad": True, "patrol": False}
    last_zero: dict[str, bool | None] = {"handheld": None, "gamepad": None, "patrol": None}
    for source, vx, event, ticks, delay in script:
        stop = event == "engage" or (event == "release" and engaged)
        if event == "engage":
            n += 1
            core.set_estop(True, IMMEDIATE, t, (("station", str(n)),))
            engaged = True
        elif event == "release":
            core.set_estop(False, None, t, ())
            engaged = False
        elif event == "resume":
            try:
                core.resume("patrol")
                fresh["patrol"] = True
            except Refused:
                pass
        if stop:
            stopped = t
            for name in fresh:
                fresh[name] = name != "patrol" and last_zero[name] is not False
        for _ in range(ticks):
            if source is not None and event != "gap":
                sent = None if delay is None else t - delay
                core.command(source, (vx, 0, 0), (0, 0, 0), t, sent)
                last_zero[source] = vx == 0.0
                if source == "patrol":
                    pass
                elif sent is not None and sent < stopped:
                    fresh[source] = fresh[source] and vx == 0.0
                elif vx == 0.0:
                    fresh[source] = True
            out = core.step(t)
            if out is not None and not out.is_zero and core.winner is not None:
                assert fresh[core.winner], (core.winner, t)
            for line in core.take_log():
                if "waits for" in line:   # the core says it disarmed: so must the model
                    fresh[line.split()[1]] = False
            t = round(t + TICK, 6)


def test_a_lost_station_holds_autonomy_while_the_officer_keeps_driving():
    from robot_dog.safety.motion import MotionConfig
    from robot_dog.safety.mux import ESTOP_LOCK, LockSpec
    core = MotionCore(MotionConfig(locks=(ESTOP_LOCK, LockSpec("autonomy", 50))))
    core.resume("patrol")
    feed(core, "patrol", 0.3, 0.0, 1.0)
    core.set_lock("autonomy", True, 1.0)                # the station's check-ins lapsed
    feed(core, "patrol", 0.3, 1.0, 2.0)
    assert core.output == ZERO
    feed(core, "station", 0.2, 2.0, 2.5)                 # the station's own input is held too
    assert core.output == ZERO
    feed(core, "handheld", 0.4, 2.5, 3.5)                # the officer drives on
    assert core.output.vx == pytest.approx(0.4)
    feed(core, "handheld", 0.0, 3.5, 4.2)
    core.set_lock("autonomy", False, 4.2)                # the station is back and released
    feed(core, "patrol", 0.3, 4.2, 5.5)
    assert core.output == ZERO and "patrol" in core.waiting()
