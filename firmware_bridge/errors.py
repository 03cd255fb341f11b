"""The firmware bridge's error tree (h11 / spot-sdk style).

    BridgeError
    +-- ProtocolError
    |   +-- LocalProtocolError   we misused the codec (value out of range, body too long)
    |   +-- RemoteProtocolError  the peer sent garbage (bad COBS, bad CRC, unknown version/type)
    +-- CommandError             a command did not take effect
        +-- CommandRefused       the MCU answered with a non-OK status (it understood and said no)
        +-- CommandTimeout       no acknowledgement before the command's deadline (retryable)
        +-- LinkDown             the bridge is closed; nothing was sent

Errors are raised in the cores; the edges (ROS node, CLI) turn them into clear messages. A
CommandError's `code` is the stable refusal code a service answers with when the MCU did not
apply a request (docs/errors.md).
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError


class BridgeError(RobotDogError):
    """Base of every firmware-bridge error."""


class ProtocolError(BridgeError):
    """Something about the bytes or frames is wrong."""


class LocalProtocolError(ProtocolError):
    """This side tried to encode something the protocol cannot carry."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that do not form a valid frame; `reason` is a short stable tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class CommandError(BridgeError):
    """A command was not applied by the MCU."""
    code = "mcu_refused"


class CommandRefused(CommandError):
    """The MCU acknowledged the command with a refusal status."""

    def __init__(self, status: object, command: object) -> None:
        name = getattr(status, "name", None) or f"unknown status {status}"
        super().__init__(f"MCU refused {type(command).__name__}: {name}")
        self.status = status
        self.command = command


class CommandTimeout(CommandError):
    """No acknowledgement arrived before the command's deadline (after `attempts` sends)."""
    code = "mcu_timeout"

    def __init__(self, command: object, attempts: int) -> None:
        super().__init__(f"no acknowledgement for {type(command).__name__} after {attempts} send(s)")
        self.command = command
        self.attempts = attempts


class LinkDown(CommandError):
    """The link is closed; the command was never sent."""
    code = "mcu_link_down"
