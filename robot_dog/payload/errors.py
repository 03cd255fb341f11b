"""Errors of the payload cores; the node answers them as `accepted=False, code, message`."""
from __future__ import annotations

from robot_dog.errors import Refused, RobotDogError

import math


class PayloadError(RobotDogError):
    """Base of payload errors."""


class RequestRefused(PayloadError, Refused):
    """A request breaks a limit or a safety rule; `reason` says which, for the caller.

    Out-of-range values are refused, never clamped: an officer asking for 50 Hz must learn that
    they did not get it.
    """

    def __init__(self, reason: str, code: str = "out_of_limits") -> None:
        Refused.__init__(self, code, reason)


def checked_duration(duration_s: float, default_s: float, max_s: float) -> float:
    """A command duration in s: 0 means `default_s`; negative, NaN or above `max_s` is refused."""
    if not math.isfinite(duration_s) or duration_s < 0:
        raise RequestRefused(f"duration_s {duration_s} must be >= 0 (0 = default {default_s:g} s)")
    duration = duration_s or default_s
    if duration > max_s:
        raise RequestRefused(f"duration {duration:g} s above the {max_s:g} s limit")
    if duration < 0.001:
        raise RequestRefused(f"duration {duration:g} s below 1 ms")
    return duration
