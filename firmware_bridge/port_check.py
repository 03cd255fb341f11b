"""What is wrong with a serial port before and while opening it, in words a user can act on.

Two failures look alike from the link (no handshake) but need different fixes: a device path
that does not exist (connect the MCU or start the virtual one) and a port another program holds
(SerialLink opens exclusively: payload_node is its one owner while the dog stack runs).
"""
from __future__ import annotations

import os


def is_device_path(url: str) -> bool:
    """A filesystem path, not a pyserial URL such as socket://host:port."""
    return "://" not in url


def missing_device(url: str) -> bool:
    """True when `url` is a device path that does not exist (a pty symlink not made yet too)."""
    return is_device_path(url) and not os.path.exists(url)


def is_locked(open_error: str) -> bool:
    """True when an open failed because another process holds the port (pyserial's exclusive
    flock, or a device that allows one opener only)."""
    text = open_error.lower()
    return "exclusively lock" in text or "resource busy" in text  # flock, or EBUSY


def virtual_mcu_hint(url: str) -> str:
    return f"python -m firmware_bridge.virtual_mcu --link {url}"
