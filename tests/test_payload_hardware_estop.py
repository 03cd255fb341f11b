"""The MCU and its e-stop button as e-stop endpoints (pure core of payload_node's check-ins)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.messages import SafeReason
from robot_dog.payload.hardware_estop import (
    BUTTON, BUTTON_REASON, LOST_REASON, MCU, SILENT_REASON, CheckIn, Engage, HardwareEstop, Sample,
)

PRESSED, CLEAR = int(SafeReason.BUTTON), 0


def test_checks_in_for_the_mcu_only_while_its_telemetry_is_live() -> None:
    hw = HardwareEstop(timeout_s=2.0, fresh_s=1.0, every_s=0.25, lost_s=0.35)
    assert hw.tick(0.0, None, None) == []                       # no telemetry yet: not joined
    assert hw.tick(0.1, 0.05, CLEAR) == [CheckIn(MCU, 2.0)]
    assert hw.tick(0.2, 0.05, CLEAR) == []                      # within every_s
    assert hw.tick(0.4, 0.05, CLEAR) == [CheckIn(MCU, 2.0)]
    [engage] = hw.tick(2.0, 0.5, CLEAR)                         # silent: engaged, no check-in
    assert engage.endpoint == MCU and SILENT_REASON in engage.reason and hw.lost
    assert hw.tick(9.0, 0.1, CLEAR) == [CheckIn(MCU, 2.0)]      # back: checks in, nothing released
    assert not hw.lost


def test_a_silent_mcu_engages_after_lost_s_and_again_while_it_stays_silent() -> None:
    hw = HardwareEstop(lost_s=0.35, lost_reassert_s=0.25, every_s=100.0)
    hw.tick(0.0, 0.1, CLEAR)
    assert hw.tick(0.3, 0.35, CLEAR) == []                      # at the limit: still live
    assert [a.endpoint for a in hw.tick(0.35, 0.36, CLEAR)] == [MCU]
    assert hw.tick(0.5, 0.5, CLEAR) == []                       # within lost_reassert_s
    assert [a.endpoint for a in hw.tick(0.61, 0.6, CLEAR)] == [MCU]   # a release meanwhile
    assert [a.endpoint for a in hw.tick(0.9, None, None)] == [MCU]    # does not last


def test_a_lost_port_engages_at_once_but_only_for_a_joined_mcu() -> None:
    hw = HardwareEstop()
    assert hw.on_link_lost(0.0, "device gone") == []            # never heard: not an endpoint
    hw.tick(1.0, 0.05, PRESSED)
    assert hw.on_link_lost(1.01, "device gone") == [Engage(MCU, f"{LOST_REASON} (device gone)")]
    assert hw.button_pressed is None                            # unknown while the link is gone


def test_after_the_port_goes_only_telemetry_sampled_since_brings_the_link_back() -> None:
    """The link thread's silence counts from the last frame before the loss (0.05 s before
    it): a tick 0.25 s after the loss must not take the link for live again, check in and
    clear the hold's repeats (a release then did not last: the repeat came after it)."""
    hw = HardwareEstop(lost_s=0.35, lost_reassert_s=0.25, every_s=0.25)
    hw.tick(0.0, 0.05, CLEAR, silence_s=0.05)
    assert hw.on_link_lost(1.0, "gone") == [Engage(MCU, f"{LOST_REASON} (gone)")]
    assert hw.tick(1.25, 0.3, CLEAR, silence_s=0.3) == [Engage(MCU, LOST_REASON)]   # its repeat
    assert hw.lost
    assert hw.tick(1.4, 0.45, CLEAR, silence_s=0.45) == []      # within lost_reassert_s
    assert hw.tick(1.6, 0.05, CLEAR, silence_s=0.05) == [CheckIn(MCU, 2.0)]   # a frame since: back
    assert not hw.lost
    assert hw.tick(2.0, 0.05, CLEAR, silence_s=0.05) == [CheckIn(MCU, 2.0)]


def test_a_pushed_press_engages_at_once_repeats_while_held_and_pulling_out_releases_nothing() -> None:
    hw = HardwareEstop(every_s=100.0, reassert_s=1.0)
    hw.tick(0.0, 0.0, CLEAR)
    assert hw.on_safe_reasons(0.05, PRESSED) == [Engage(BUTTON, BUTTON_REASON)]   # the EVENT
    assert hw.tick(0.1, 0.0, PRESSED) == []                     # the telemetry after it: no repeat
    assert hw.button_pressed is True
    assert hw.tick(0.5, 0.0, PRESSED) == []
    assert hw.tick(1.1, 0.0, PRESSED) == [Engage(BUTTON, BUTTON_REASON)]   # a release while held
    assert hw.tick(1.2, 0.0, CLEAR) == [] and hw.button_pressed is False   # does not last
    assert hw.tick(5.0, 0.0, CLEAR) == []
    assert hw.tick(5.1, 0.0, PRESSED | int(SafeReason.COMMANDED)) == [Engage(BUTTON, BUTTON_REASON)]
    assert hw.tick(5.2, 3.0, PRESSED) == [Engage(MCU, f"{SILENT_REASON} for 0.35 s")]
    assert hw.button_pressed is None                            # stale: unknown


def test_a_press_pulled_out_within_one_telemetry_period_does_not_come_back_from_older_frames() -> None:
    """The MCU's frames in the order the link hands them over: the press and pull-out EVENTs
    (pushed ahead of the telemetry read with them), then a telemetry sampled between the two;
    and a tick that still reads that telemetry as the newest. The pull-out is the MCU's last
    word: neither engages `button` again (the release after the pull-out lasts)."""
    hw = HardwareEstop(every_s=100.0, reassert_s=1.0)
    hw.tick(0.0, 0.0, CLEAR, sampled=Sample(7, 1000))
    assert hw.on_safe_reasons(0.01, PRESSED, Sample(7, 1010), pushed=True) == [Engage(BUTTON, BUTTON_REASON)]
    assert hw.on_safe_reasons(0.02, CLEAR, Sample(7, 1025), pushed=True) == []
    assert hw.button_pressed is False
    assert hw.on_safe_reasons(0.03, PRESSED, Sample(7, 1020)) == []     # sampled before the pull-out
    assert hw.tick(0.05, 0.03, PRESSED, sampled=Sample(7, 1020)) == []  # the tick's newest frame
    assert hw.button_pressed is False
    assert hw.tick(2.0, 0.0, PRESSED, sampled=Sample(7, 1020)) == []    # no repeat of an old press
    assert hw.tick(2.1, 0.0, CLEAR, sampled=Sample(7, 1120)) == []      # the next frame agrees
    # A real press later is news whichever frame brings it first.
    assert hw.tick(3.0, 0.0, PRESSED, sampled=Sample(7, 3000)) == [Engage(BUTTON, BUTTON_REASON)]


def test_an_event_in_the_same_millisecond_as_the_newest_frame_is_news_a_telemetry_is_not() -> None:
    hw = HardwareEstop(every_s=100.0)
    hw.tick(0.0, 0.0, CLEAR, sampled=Sample(7, 500))
    assert hw.on_safe_reasons(0.0, PRESSED, Sample(7, 500), pushed=True) == [Engage(BUTTON, BUTTON_REASON)]
    assert hw.on_safe_reasons(0.0, CLEAR, Sample(7, 500)) == [] and hw.button_pressed is True


def test_a_restarted_mcu_clock_is_news_not_old_news() -> None:
    """A new boot id, or (a version-2 MCU: boot id 0) uptime run back further than frames are
    ever reordered, is a new clock: its press engages."""
    hw = HardwareEstop(every_s=100.0, reorder_s=1.0)
    hw.tick(0.0, 0.0, CLEAR, sampled=Sample(7, 90_000))
    assert hw.on_safe_reasons(0.1, PRESSED, Sample(8, 50), pushed=True) == [Engage(BUTTON, BUTTON_REASON)]
    v2 = HardwareEstop(every_s=100.0, reorder_s=1.0)
    v2.tick(0.0, 0.0, CLEAR, sampled=Sample(0, 90_000))
    assert v2.on_safe_reasons(0.1, PRESSED, Sample(0, 89_500)) == []    # within 1 s: reordered
    assert v2.on_safe_reasons(0.2, PRESSED, Sample(0, 300)) == [Engage(BUTTON, BUTTON_REASON)]


@given(st.lists(st.tuples(st.integers(-300, 300), st.booleans(), st.booleans()), max_size=60))
def test_the_button_state_is_always_the_newest_sampled_report(reports) -> None:
    """Whatever order reports arrive in (reordered by up to 0.3 s), the state is the newest
    report's, and `button` engages exactly when that state turns pressed."""
    hw = HardwareEstop(every_s=100.0, reassert_s=1e9)
    hw.tick(0.0, 0.0, CLEAR, sampled=Sample(1, 10_000))
    newest, pressed_now = 10_000, False
    for shift, pressed, pushed in reports:
        uptime = 10_000 + shift + 300 * len(reports)   # never more than 0.6 s apart
        actions = hw.on_safe_reasons(1.0, PRESSED if pressed else CLEAR, Sample(1, uptime), pushed)
        if uptime > newest or (pushed and uptime == newest):
            newest, turned = uptime, pressed and not pressed_now
            pressed_now = pressed
            assert actions == ([Engage(BUTTON, BUTTON_REASON)] if turned else [])
        else:
            assert actions == []
        assert hw.button_pressed is pressed_now


@given(st.lists(st.tuples(st.floats(0.0, 0.6), st.one_of(st.none(), st.floats(0.0, 3.0)),
                          st.booleans()), max_size=80))
def test_engages_only_on_presses_or_silence_and_never_lets_either_lapse(steps) -> None:
    hw = HardwareEstop(timeout_s=2.0, fresh_s=1.0, every_s=0.25, reassert_s=1.0, lost_s=0.35,
                       lost_reassert_s=0.25)
    now, last_button, last_check_in, last_lost, joined = 0.0, None, None, None, False
    for dt, age, pressed in steps:
        now += dt
        actions = hw.tick(now, age, PRESSED if pressed else CLEAR)
        fresh = age is not None and age <= 1.0
        live = age is not None and age <= 0.35
        buttons = [a for a in actions if isinstance(a, Engage) and a.endpoint == BUTTON]
        losts = [a for a in actions if isinstance(a, Engage) and a.endpoint == MCU]
        check_ins = [a for a in actions if isinstance(a, CheckIn)]
        assert not buttons or (fresh and pressed)
        assert not check_ins or live
        assert not losts or (joined and not live)
        joined = joined or live
        last_check_in = now if check_ins else last_check_in
        last_button = now if buttons else last_button
        last_lost = now if losts else last_lost
        if live:   # a live tick never lets the mcu check-in lapse
            assert last_check_in is not None and now - last_check_in < 0.25 + 1e-9
        if fresh and pressed:
            assert last_button is not None and now - last_button < 1.0 + 1e-9
        if joined and not live:   # a silent link is held, and held again
            assert last_lost is not None and now - last_lost < 0.25 + 1e-9


def test_silence_is_judged_on_the_links_own_thread_when_given() -> None:
    """A stalled process sees old telemetry (age 0.6 s) though its link thread, not scheduled
    either, went only 0.05 s without a frame: not a silent MCU. A silent MCU is."""
    hw = HardwareEstop(lost_s=0.35, every_s=100.0)
    hw.tick(0.0, 0.05, CLEAR, silence_s=0.05)
    assert hw.tick(1.0, 0.6, CLEAR, silence_s=0.05) == []
    assert [a.endpoint for a in hw.tick(2.0, 0.6, CLEAR, silence_s=0.4)] == [MCU]


def test_the_tick_comes_with_each_check_in_and_when_the_silence_reaches_its_limit() -> None:
    """payload_node's tick is paced by `next_tick` (not a 20 Hz poll): every `every_s` while
    the MCU talks, at `lost_s` of silence exactly, and with the engages' repeats."""
    hw = HardwareEstop(every_s=0.25, lost_s=0.35, lost_reassert_s=0.25, reassert_s=1.0)
    assert hw.next_tick(0.0, None) == 0.25                      # not joined: the check-in period
    assert hw.tick(1.0, 0.05, CLEAR, 0.05) == [CheckIn(MCU, 2.0)]
    assert hw.next_tick(1.0, 0.05) == 1.25                      # the next check-in comes first
    assert hw.next_tick(1.2, 0.3) == 1.25                       # silent 0.3 s: limit at 1.25 too
    assert abs(hw.next_tick(1.1, 0.3) - 1.15) < 1e-9            # ... or sooner than the check-in
    [engage] = hw.tick(1.15 + 1e-6, 0.36, CLEAR, 0.35 + 1e-6)   # at the limit: engaged
    assert engage.endpoint == MCU and hw.lost
    assert hw.next_tick(1.2, 0.4) == hw._lost_engaged + 0.25    # the engage's repeat
    assert hw.next_tick(5.0, 0.0) == 5.0                        # overdue: now
    hw2 = HardwareEstop(every_s=0.25, reassert_s=0.1)
    hw2.tick(0.0, 0.0, PRESSED, 0.0)                            # pressed: engaged, repeated
    assert hw2.next_tick(0.01, 0.0) == 0.1
