"""Errors of the launcher: a bad launch file (the user's to fix) vs. a failure to run it."""
from __future__ import annotations

from robot_dog.errors import RobotDogError


class LaunchError(RobotDogError):
    """Base of every launcher error."""


class LaunchFileError(LaunchError):
    """The launch file (or an `arg:=value` override) is invalid; carries where, for `FILE:LINE:`.

    `line` is 1-based; None when the problem has no place in the file (e.g. an unknown override).
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"
