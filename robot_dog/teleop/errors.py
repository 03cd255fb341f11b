"""Refusals of the handheld server: a stable snake_case `code` (log kinds, the page) and a
`reason` in words (the page shows it, the log line says it)."""
from __future__ import annotations

from robot_dog.errors import Refused


class HandheldRefused(Refused):
    """A frame, pairing attempt or connection the handheld server will not take."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
