"""The MCU and its e-stop button as e-stop endpoints (pure core of payload_node's check-ins)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.messages import SafeReason
from robot_dog.payload.hardware_estop import BUTTON, BUTTON_REASON, MCU, CheckIn, Engage, HardwareEstop

PRESSED, CLEAR = int(SafeReason.BUTTON), 0


def test_checks_in_for_the_mcu_only_while_its_telemetry_is_fresh() -> None:
    hw = HardwareEstop(timeout_s=2.0, fresh_s=1.0, every_s=0.25)
    assert hw.tick(0.0, None, None) == []                       # no telemetry yet: not joined
    assert hw.tick(0.1, 0.05, CLEAR) == [CheckIn(MCU, 2.0)]
    assert hw.tick(0.2, 0.05, CLEAR) == []                      # within every_s
    assert hw.tick(0.4, 0.05, CLEAR) == [CheckIn(MCU, 2.0)]
    assert hw.tick(2.0, 1.01, CLEAR) == []                      # stale: silence, the deadline acts
    assert hw.tick(9.0, 0.1, CLEAR) == [CheckIn(MCU, 2.0)]      # back: joins again


def test_a_press_engages_at_once_repeats_while_held_and_pulling_out_releases_nothing() -> None:
    hw = HardwareEstop(every_s=100.0, reassert_s=1.0)
    hw.tick(0.0, 0.0, CLEAR)
    assert hw.tick(0.1, 0.0, PRESSED) == [Engage(BUTTON, BUTTON_REASON)]
    assert hw.button_pressed is True
    assert hw.tick(0.5, 0.0, PRESSED) == []
    assert hw.tick(1.1, 0.0, PRESSED) == [Engage(BUTTON, BUTTON_REASON)]   # a release while held
    assert hw.tick(1.2, 0.0, CLEAR) == [] and hw.button_pressed is False   # does not last
    assert hw.tick(5.0, 0.0, CLEAR) == []
    assert hw.tick(5.1, 0.0, PRESSED | int(SafeReason.COMMANDED)) == [Engage(BUTTON, BUTTON_REASON)]
    assert hw.tick(5.2, 3.0, PRESSED) == [] and hw.button_pressed is None  # stale: unknown


@given(st.lists(st.tuples(st.floats(0.0, 0.6), st.one_of(st.none(), st.floats(0.0, 3.0)),
                          st.booleans()), max_size=80))
def test_engages_only_on_fresh_presses_and_never_leaves_a_held_button_unasserted(steps) -> None:
    hw = HardwareEstop(timeout_s=2.0, fresh_s=1.0, every_s=0.25, reassert_s=1.0)
    now, last_engage, last_check_in = 0.0, None, None
    for dt, age, pressed in steps:
        now += dt
        actions = hw.tick(now, age, PRESSED if pressed else CLEAR)
        fresh = age is not None and age <= 1.0
        engages = [a for a in actions if isinstance(a, Engage)]
        check_ins = [a for a in actions if isinstance(a, CheckIn)]
        assert not engages or (fresh and pressed)
        assert not check_ins or fresh
        if check_ins:
            last_check_in = now
        if engages:
            last_engage = now
        if fresh:   # a fresh tick never lets the mcu check-in or a held button's engage lapse
            assert last_check_in is not None and now - last_check_in < 0.25 + 1e-9 or check_ins
            if pressed:
                assert last_engage is not None and now - last_engage < 1.0 + 1e-9
