"""Node parameters declared with a description and read-only: frozen at start-up, as the
nodes build their config once (STYLE.md: parameters declared with descriptors)."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node


def declare_read_only(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare `name` with `default` and `description`; return its value (override or default).

    A float parameter takes a whole number too (`real_time_factor:=5`): rclpy types an override
    by its text and refuses an integer for a float parameter, which people type all the time.
    Anything else than a number is still refused."""
    widen = isinstance(default, float)
    descriptor = ParameterDescriptor(description=description, read_only=True,
                                     dynamic_typing=widen)
    value = node.declare_parameter(name, default, descriptor).value
    if not widen:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {name} must be a number, got {value!r}")
    return float(value)
