"""ROS 2 message definitions as MCAP and Foxglove want them (`ros2msg` encoding): the type's
.msg text followed by every type it uses, each after a line of 80 '=' and `MSG: pkg/Name`,
as rosbag2 writes them. The .msg files come from the share directories of the ament
prefixes (`AMENT_PREFIX_PATH`) and of this environment (where the ros-* wheels and the
interfaces ./dev.sh builds install them).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import os
import sys

PRIMITIVES = frozenset((
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring"))
SEPARATOR = "=" * 80
_CONSTANT = re.compile(r"^\S+\s+\w+\s*=")   # `uint8 NO_ERROR = 0`; fields with defaults have no '='


class SchemaMissing(LookupError):
    """No .msg definition for a type (its package is not installed here)."""


def _split(name: str) -> tuple[str, str]:
    """`pkg/msg/Name` or `pkg/Name` -> (pkg, Name)."""
    parts = name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise SchemaMissing(f"not a message type name: {name!r}")


@lru_cache(maxsize=None)
def definition_text(name: str) -> str:
    """The .msg text of one type (`pkg/msg/Name`)."""
    package, short = _split(name)
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in (*prefixes, sys.prefix):
        path = Path(prefix) / "share" / package / "msg" / f"{short}.msg"
        if path.is_file():
            return path.read_text()
    raise SchemaMissing(f"no {package}/msg/{short}.msg under {', '.join((*prefixes, sys.prefix))}")


def field_types(text: str, package: str) -> list[str]:
    """The message types (`pkg/Name`) the fields of a .msg text use, in order, once each."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or _CONSTANT.match(line):
            continue
        base = re.sub(r"(<=\d+)?(\[[^\]]*\])?$", "", line.split()[0])   # string<=5, T[], T[<=3]
        if base in PRIMITIVES:
            continue
        full = base if "/" in base else f"{package}/{base}"
        if full not in out:
            out.append(full)
    return out


@lru_cache(maxsize=None)
def full_definition(name: str) -> str:
    """The definition of `name` with every type it depends on, for MCAP/Foxglove (`ros2msg`)."""
    package, short = _split(name)
    root = definition_text(f"{package}/msg/{short}")
    seen: list[str] = []
    queue = field_types(root, package)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.append(dep)
        dep_package, _ = _split(dep)
        queue += [t for t in field_types(definition_text(_msg_name(dep)), dep_package) if t not in seen]
    parts = [root.rstrip("\n")]
    for dep in seen:
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{definition_text(_msg_name(dep)).rstrip(chr(10))}")
    return "\n".join(parts) + "\n"


def _msg_name(name: str) -> str:
    package, short = _split(name)
    return f"{package}/msg/{short}"
