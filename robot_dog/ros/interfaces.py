"""ROS interface types by name ("package/Type"), as the verb registry names them."""
from __future__ import annotations

import importlib
from typing import Any


def interface(name: str, kind: str) -> Any:
    """The class of `name` ("robot_dog_interfaces/SetPoliceLight") of `kind` (srv, action, msg)."""
    package, _, type_name = name.partition("/")
    if not package or not type_name:
        raise ValueError(f"an interface is package/Type, got {name!r}")
    return getattr(importlib.import_module(f"{package}.{kind}"), type_name)
