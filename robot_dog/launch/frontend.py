"""The attribute types `ros2 launch`'s YAML front end accepts, as one table.

launch_yaml's `Entity.get_attr` coerces nothing: it checks the YAML value against the type the
parsing action asks for (a string unless said otherwise) and, for a number, also takes a string
(a substitution such as `$(var x)`). Any key the action does not read is an error too. The
table below is what `launch.actions.DeclareLaunchArgument`, `launch.actions.ExecuteProcess` and
`launch_ros.actions.Node` read (ROS 2 Jazzy to Kilted), for the attributes this launcher
supports; `robot-dog launch` applies it, so a file it accepts is also typed right for upstream.
The upstream parsers themselves do not install from PyPI here (no ros-launch wheels), hence
the table instead of a differential test.
"""
from __future__ import annotations

from typing import Final

STR: Final = "a string"
FLOAT: Final = "a float (1.0, not 1) or a string"
INT: Final = "an integer or a string"
LIST: Final = "a list"
ANY: Final = "any YAML value"

#: entity -> attribute -> accepted type.
ATTRIBUTES: Final[dict[str, dict[str, str]]] = {
    "arg": {"name": STR, "default": STR, "description": STR},
    "node": {"pkg": STR, "exec": STR, "name": STR, "namespace": STR, "param": LIST,
             "remap": LIST, "ros_args": STR, "args": STR, "output": STR, "on_exit": STR,
             # A substitution string in upstream ("true"/"false"), never a YAML bool.
             "respawn": STR, "respawn_delay": FLOAT, "respawn_max_retries": INT},
    "param": {"name": STR, "value": ANY},
    "remap": {"from": STR, "to": STR},
}


def accepts(expected: str, value: object, is_list: bool) -> bool:
    """Whether upstream takes `value` (the YAML-typed value; `is_list` for a sequence)."""
    if expected == ANY:
        return True
    if expected == LIST:
        return is_list
    if is_list or isinstance(value, bool):
        return False
    if expected == STR:
        return isinstance(value, str)
    if expected == FLOAT:
        return isinstance(value, (str, float))
    return isinstance(value, (str, int))  # INT


def type_error(entity: str, key: str, value: object, is_list: bool) -> str | None:
    """None if upstream takes it, else a message saying what to write."""
    expected = ATTRIBUTES[entity][key]
    if accepts(expected, value, is_list):
        return None
    got = "a list" if is_list else f"{type(value).__name__} {value!r}"
    hint = f' (quote it: {key}: "{str(value).lower() if isinstance(value, bool) else value}")' \
        if expected == STR and not is_list and value is not None else ""
    return f"{entity}: '{key}' must be {expected} for ros2 launch's YAML front end, got {got}{hint}"
