"""Errors of the safety part: a refusal names its reason so a log reader understands it, and a
stable snake_case `code` so a client can act on it without reading English."""
from __future__ import annotations

from robot_dog import errors
from robot_dog.errors import RobotDogError


class SafetyError(RobotDogError):
    """Base of the safety part's errors."""


class Refused(SafetyError, errors.Refused):
    """A command or request the safety core will not apply; `code` is stable, `reason` says why."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        errors.Refused.__init__(self, code, reason)
