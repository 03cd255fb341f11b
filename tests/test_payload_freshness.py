"""Telemetry age from the MCU's time base (fake clock)."""
from __future__ import annotations

import pytest

from robot_dog.payload.freshness import TelemetryAge


def feed(age: TelemetryAge, start_s: float, count: int, delay_s: float, uptime0_s: float = 0.0,
         period_s: float = 0.1) -> float:
    """`count` frames every `period_s` from MCU time `uptime0_s`, arriving `delay_s` late."""
    for i in range(count):
        arrived = start_s + i * period_s + delay_s
        age.on_telemetry(round((uptime0_s + i * period_s) * 1000), arrived)
    return arrived


def test_frames_on_time_are_fresh() -> None:
    age = TelemetryAge()
    last = feed(age, 100.0, 50, delay_s=0.004)
    assert age.age(last + 0.05) == pytest.approx(0.05, abs=0.01)


def test_frames_that_arrive_late_are_old_even_if_they_keep_coming() -> None:
    age = TelemetryAge()
    feed(age, 100.0, 50, delay_s=0.004)                 # t 100..104.9 on time
    last = feed(age, 105.0, 30, delay_s=1.2, uptime0_s=5.0)   # then every frame 1.2 s late
    assert age.age(last) == pytest.approx(1.2, abs=0.01)
    assert age.age(last) > 1.0                          # the node's STALE limit


def test_mcu_reboot_restarts_the_baseline() -> None:
    age = TelemetryAge()
    feed(age, 100.0, 10, delay_s=0.004, uptime0_s=3000.0)
    last = feed(age, 200.0, 10, delay_s=0.004, uptime0_s=0.0)   # uptime ran backwards
    assert age.age(last) == pytest.approx(0.0, abs=0.01)


def test_slow_crystal_drift_is_not_taken_for_lateness() -> None:
    age = TelemetryAge(drift_ppm=200.0)
    # the MCU clock runs 100 ppm slow for a day of 10 Hz telemetry (sampled every minute)
    for minute in range(24 * 60):
        t = minute * 60.0
        age.on_telemetry(round(t * (1 - 100e-6) * 1000), t + 0.004)
    assert age.lateness_s < 0.05


def test_a_lag_present_from_the_first_frame_shows_through_the_heartbeat_echo() -> None:
    """Telemetry 1.5 s late from the start: the uptime baseline cannot see it; the echoed beat,
    sent by the host 1.5 s (and up to one beat) before the frame arrived, does."""
    age = TelemetryAge()
    for i in range(30):
        arrived = 100.0 + i * 0.1 + 1.5
        age.on_telemetry(round(i * 100), arrived, sampled_after=arrived - 1.5 - 0.05)
    assert age.lateness_s == pytest.approx(0.0, abs=0.01)      # blind without the echo
    assert age.age(arrived) == pytest.approx(1.55, abs=0.01)
    assert age.age(arrived) > 1.0                               # the node's STALE limit


def test_the_echo_bound_stays_small_on_a_healthy_link() -> None:
    age = TelemetryAge()
    for i in range(30):
        arrived = 100.0 + i * 0.1 + 0.004
        age.on_telemetry(round(i * 100), arrived, sampled_after=arrived - 0.004 - 0.09)
    assert age.age(arrived + 0.05) < 0.2
