"""The one error root of the stack (pure): every error of ours is a `RobotDogError`, and every
refusal, wherever it is raised, is a `Refused(code, detail)`.

`code` is a stable snake_case word a client acts on (ROS service responses carry it in `code`,
MQTT results in `code`, HTTP and WebSocket answers in `code`); `detail` says why in words, for a
person and a log line, and no client ever parses it. The codes: docs/errors.md.
"""
from __future__ import annotations

import re
from typing import Any

CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class RobotDogError(Exception):
    """Root of every error the stack raises on purpose (the CLI catches it once)."""


class Refused(RobotDogError):
    """A request the stack will not carry out: `code` (stable, snake_case) and `detail` (words)."""

    def __init__(self, code: str, detail: str = "") -> None:
        if not CODE.fullmatch(code):
            raise ValueError(f"refusal codes are snake_case words, got {code!r}")
        super().__init__(detail or code)
        self.code = code
        self.detail = detail or code

    @property
    def reason(self) -> str:
        """The detail, under the name the older cores used."""
        return self.detail


def answer(response: Any, refusal: Refused | None = None, message: str = "") -> Any:
    """`response` filled in the one shape of every service of ours: `accepted`, `code` ("ok", or
    the refusal's code) and `message` (words for a person and a log line; no client parses
    them). A node answers `answer(response, message=...)` or `answer(response, exc)`."""
    response.accepted = refusal is None
    response.code = "ok" if refusal is None else refusal.code
    response.message = message if refusal is None else refusal.detail
    return response


def outcome(response: Any) -> tuple[str, str]:
    """(code, message) of a service response: `accepted` (std_srvs: `success`), its refusal
    `code` (`refused` when it gives none: std_srvs) and its `message`."""
    accepted = bool(getattr(response, "accepted", getattr(response, "success", False)))
    words = str(getattr(response, "message", ""))
    if accepted:
        return "ok", words
    code = str(getattr(response, "code", "") or "")
    return (code if code and code != "ok" else "refused"), words or "refused by the service"
