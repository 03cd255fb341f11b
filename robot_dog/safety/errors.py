"""Errors of the safety part: a refusal names its reason so a log reader understands it."""
from __future__ import annotations


class SafetyError(Exception):
    """Base of the safety part's errors."""


class Refused(SafetyError):
    """A command or request the safety core will not apply; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
