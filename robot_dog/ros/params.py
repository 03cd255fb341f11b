"""Node parameters declared with a description and read-only: frozen at start-up, as the
nodes build their config once (STYLE.md: parameters declared with descriptors)."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node


def declare_read_only(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare `name` with `default` and `description`; return its value (override or default)."""
    descriptor = ParameterDescriptor(description=description, read_only=True)
    return node.declare_parameter(name, default, descriptor).value
