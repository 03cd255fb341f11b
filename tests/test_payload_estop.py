"""E-stop gate: confirmation from MCU telemetry, resend while it disagrees, reduce-only requests."""
from __future__ import annotations

import pytest

from firmware_bridge.messages import Safe, SafeReason
from robot_dog.payload.errors import RequestRefused
from robot_dog.payload.estop import EstopGate


def test_safe_is_confirmed_only_by_telemetry_and_resent_until_it_is() -> None:
    gate = EstopGate(resend_s=0.5)
    assert gate.update(True, "officer", now=10.0) == Safe(True)
    assert gate.confirmed is False
    # the MCU still reports no commanded safe state (SAFE lost, refused or STALE)
    assert gate.on_telemetry(SafeReason.NONE, 10.1) == (None, False)     # not yet: just sent
    assert gate.on_telemetry(SafeReason.NONE, 10.5) == (Safe(True), False)
    assert gate.on_telemetry(SafeReason.NONE, 10.6) == (None, False)
    assert gate.on_telemetry(SafeReason.COMMANDED, 10.7) == (None, True)  # confirmed once
    assert gate.confirmed is True
    assert gate.on_telemetry(SafeReason.COMMANDED | SafeReason.HEARTBEAT_LOST, 10.8) == (None, False)


def test_heartbeat_loss_alone_does_not_confirm_an_estop() -> None:
    gate = EstopGate(resend_s=0.5)
    gate.update(True, now=0.0)
    assert gate.on_telemetry(SafeReason.HEARTBEAT_LOST, 1.0) == (Safe(True), False)
    assert gate.confirmed is False


def test_release_is_confirmed_when_the_commanded_reason_clears() -> None:
    gate = EstopGate(resend_s=0.5)
    gate.update(True, now=0.0)
    gate.on_telemetry(SafeReason.COMMANDED, 0.1)
    assert gate.update(False, now=1.0) == Safe(False)
    assert gate.on_telemetry(SafeReason.COMMANDED, 1.6) == (Safe(False), False)
    assert gate.on_telemetry(SafeReason.NONE, 1.7) == (None, True)


def test_only_requests_that_reduce_output_pass_an_engaged_estop() -> None:
    gate = EstopGate()
    gate.check()                                  # released: everything passes
    gate.update(True, "crowd", now=0.0)
    with pytest.raises(RequestRefused, match="e-stop engaged \\(crowd\\)"):
        gate.check()
    gate.check(reduces_output=True)


def test_nothing_is_released_before_the_first_estop_message() -> None:
    """A restarted node must not release a safe state an earlier e-stop left on the MCU."""
    gate = EstopGate(resend_s=0.5)
    assert gate.sync(now=0.0) is None
    assert gate.on_telemetry(SafeReason.COMMANDED, 5.0) == (None, False)
    assert gate.update(False, now=6.0) == Safe(False)      # the latched state arrives: released
    assert gate.sync(now=7.0) == Safe(False)
