"""Launch files in the ROS 2 YAML launch format, parsed into frozen dataclasses (no processes, no rclpy).

The subset of `launch_yaml` + `launch_ros` this project uses, so the same files also serve
`ros2 launch` on a full ROS 2 install:

    launch:
    - arg: {name: rate, default: "2.0", description: "..."}
    - node:
        pkg: robot_dog
        exec: talker_node
        name: talker
        namespace: dog1
        param: [{name: rate_hz, value: $(var rate)}]
        remap: [{from: chatter, to: chat}]
        respawn: "true"            # a string: upstream parses it as a substitution
        respawn_delay: 1.0
        respawn_max_retries: 3
        on_exit: shutdown          # upstream's way to say "required"

Attribute types follow upstream's front end (`robot_dog/launch/frontend.py`): what this parser
accepts, `ros2 launch` does too. Parsing walks yaml's node graph (`yaml.compose`), so every error names the line it is about.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from robot_dog.launch.errors import LaunchFileError
from robot_dog.launch.frontend import ATTRIBUTES, type_error
from robot_dog.ros.node_registry import NODES

_LOGGER = logging.getLogger(__name__)

#: The one ROS package whose executables this launcher can run (node_registry.NODES).
PACKAGE = "robot_dog"
#: Restarts after which a respawning node is given up; upstream's default is -1 (forever), but a
#: crash-looping driver on a robot should surface, not spin. -1 in the file still means forever.
DEFAULT_RESPAWN_MAX_RETRIES = 5

Scalar = Union[bool, int, float, str]
ParamValue = Union[Scalar, tuple[bool, ...], tuple[int, ...], tuple[float, ...], tuple[str, ...]]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMESPACE_RE = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*)?$")
_PARAM_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SUBST_RE = re.compile(r"\$\(([^()]*)\)")


@dataclass(frozen=True)
class Arg:
    """`- arg:` declaration; `default` None means the caller must give `name:=value`."""
    name: str
    default: str | None
    description: str
    line: int


@dataclass(frozen=True)
class Param:
    name: str
    value: ParamValue
    line: int


@dataclass(frozen=True)
class Remap:
    source: str
    target: str
    line: int


@dataclass(frozen=True)
class NodeSpec:
    """One `- node:` entry, validated; `line` is where it starts (1-based)."""
    package: str
    executable: str
    name: str | None
    namespace: str | None
    params: tuple[Param, ...]
    remaps: tuple[Remap, ...]
    ros_args: tuple[str, ...]
    args: tuple[str, ...]
    respawn: bool
    respawn_delay_s: float
    respawn_max_retries: int
    required: bool
    line: int

    @property
    def label(self) -> str:
        """Short name for log prefixes: the node name, else the executable."""
        return self.name or self.executable

    @property
    def fully_qualified_name(self) -> str | None:
        if self.name is None:
            return None
        ns = (self.namespace or "").strip("/")
        return f"/{ns}/{self.name}" if ns else f"/{self.name}"


@dataclass(frozen=True)
class LaunchDescription:
    path: str
    args: tuple[Arg, ...]
    arg_values: tuple[tuple[str, str], ...]
    nodes: tuple[NodeSpec, ...]


def load(path: str | os.PathLike[str], overrides: Mapping[str, str] | None = None,
         registry: Mapping[str, str] = NODES) -> LaunchDescription:
    """Read and parse a launch file; raise LaunchFileError naming the file and line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LaunchFileError(name, None, f"cannot read: {exc.strerror or exc}") from exc
    return parse(text, name, overrides, registry)


def parse(text: str, path: str = "<string>", overrides: Mapping[str, str] | None = None,
          registry: Mapping[str, str] = NODES) -> LaunchDescription:
    """Parse launch-file text; `overrides` are the `arg:=value` pairs from the command line."""
    return _Parser(path, dict(overrides or {}), registry).parse(text)


def parse_overrides(items: list[str], path: str) -> dict[str, str]:
    """`["rate:=5", ...]` -> {"rate": "5"}; anything else is a LaunchFileError (exit code 2)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not _NAME_RE.match(name):
            raise LaunchFileError(path, None, f"bad launch argument {item!r}, expected NAME:=VALUE")
        out[name] = value
    return out


def format_param_value(value: ParamValue) -> str:
    """The YAML text rcl parses back to exactly `value` in `-p name:=value` ('5' stays a string)."""
    dumped = yaml.safe_dump(list(value) if isinstance(value, tuple) else value,
                            default_flow_style=True, width=1 << 20)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


class _Parser:
    def __init__(self, path: str, overrides: dict[str, str], registry: Mapping[str, str]) -> None:
        self.path = path
        self.overrides = overrides
        self.registry = registry
        self.values: dict[str, str] = {}
        self._constructor = SafeConstructor()

    # -- helpers ------------------------------------------------------------------------------
    def error(self, node: Node | None, message: str) -> LaunchFileError:
        line = node.start_mark.line + 1 if node is not None else None
        return LaunchFileError(self.path, line, message)

    def plain(self, node: Node) -> object:
        """Python value of a node, typed as YAML types it (int, float, bool, str, ...)."""
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str, allowed: set[str] | None = None
                ) -> dict[str, tuple[Node, Node]]:
        """Keys of a mapping; for an entity of the front-end table, its keys and value types."""
        typed = ATTRIBUTES.get(what)
        allowed = set(typed) if allowed is None and typed else allowed or set()
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.plain(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, f"{what}: keys must be strings, got {key!r}")
            if key in out:
                raise self.error(key_node, f"{what}: duplicate key '{key}'")
            if key not in allowed:
                raise self.error(key_node, f"{what}: unknown key '{key}' "
                                           f"(supported: {', '.join(sorted(allowed))})")
            if typed is not None:
                is_list = isinstance(value_node, SequenceNode)
                value = None if is_list or isinstance(value_node, MappingNode) else self.plain(value_node)
                problem = type_error(what, key, value, is_list)
                if problem:
                    raise self.error(value_node, problem)
            out[key] = (key_node, value_node)
        return out

    def substitute(self, node: Node, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            words = match.group(1).split()
            if len(words) == 2 and words[0] == "var":
                if words[1] not in self.values:
                    raise self.error(node, f"undefined launch argument '{words[1]}' in {match.group(0)}")
                return self.values[words[1]]
            if words and words[0] == "env" and len(words) in (2, 3):
                value = os.environ.get(words[1], words[2] if len(words) == 3 else None)
                if value is None:
                    raise self.error(node, f"environment variable '{words[1]}' is not set")
                return value
            raise self.error(node, f"unsupported substitution {match.group(0)} "
                                   "(supported: $(var NAME), $(env NAME [DEFAULT]))")
        return _SUBST_RE.sub(one, text)

    def string(self, node: Node, what: str) -> str:
        value = self.plain(node)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.error(node, f"{what} must be a string, got {type(value).__name__}")
        return self.substitute(node, str(value))

    def scalar(self, node: Node) -> object:
        """A scalar whose substituted text is re-typed the way YAML would type it."""
        value = self.plain(node)
        if isinstance(value, str) and _SUBST_RE.search(value):
            text = self.substitute(node, value)
            try:
                typed = yaml.safe_load(text)
            except yaml.YAMLError:
                return text
            return typed if isinstance(typed, (bool, int, float, str)) else text
        return value

    def boolean(self, node: Node, what: str) -> bool:
        value = self.scalar(node)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise self.error(node, f"{what} must be true or false, got {value!r}")
        return value

    def number(self, node: Node, what: str, integer: bool = False) -> float:
        value = self.scalar(node)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            raise self.error(node, f"{what} must be {kind}, got {value!r}")
        return value

    def words(self, node: Node, what: str) -> tuple[str, ...]:
        """A string attribute split as a shell would (upstream takes only a string here)."""
        try:
            return tuple(shlex.split(self.string(node, what)))
        except ValueError as exc:
            raise self.error(node, f"{what}: {exc}") from exc

    # -- the file -----------------------------------------------------------------------------
    def parse(self, text: str) -> LaunchDescription:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            raise LaunchFileError(self.path, line, f"YAML error: {problem}") from exc
        except yaml.YAMLError as exc:
            raise LaunchFileError(self.path, None, f"YAML error: {exc}") from exc
        if root is None:
            raise LaunchFileError(self.path, 1, "empty launch file, expected 'launch:'")
        top = self.mapping(root, "launch file", {"launch"})
        if "launch" not in top:
            raise self.error(root, "missing top-level 'launch:' list")
        entries = top["launch"][1]
        if not isinstance(entries, SequenceNode):
            raise self.error(entries, "'launch' must be a list of actions (- arg: / - node:)")
        args: list[Arg] = []
        nodes: list[NodeSpec] = []
        for entry in entries.value:
            if not isinstance(entry, MappingNode) or len(entry.value) != 1:
                raise self.error(entry, "each launch entry must be one action: '- arg:' or '- node:'")
            key_node, body = entry.value[0]
            kind = self.plain(key_node)
            if kind == "arg":
                args.append(self.arg(body))
            elif kind == "node":
                nodes.append(self.node(body, key_node.start_mark.line + 1))
            else:
                raise self.error(key_node, f"unsupported action '{kind}' (supported: arg, node)")
        declared = {a.name for a in args}
        unknown = sorted(set(self.overrides) - declared)
        if unknown:
            raise LaunchFileError(self.path, None, f"unknown launch argument(s): {', '.join(unknown)}"
                                                   f" (declared: {', '.join(sorted(declared)) or 'none'})")
        self.check_unique(nodes)
        return LaunchDescription(self.path, tuple(args), tuple(self.values.items()), tuple(nodes))

    def arg(self, body: Node) -> Arg:
        keys = self.mapping(body, "arg")
        if "name" not in keys:
            raise self.error(body, "arg: missing 'name'")
        name = self.string(keys["name"][1], "arg name")
        if not _NAME_RE.match(name):
            raise self.error(keys["name"][1], f"bad arg name {name!r}")
        if name in self.values:
            raise self.error(body, f"arg '{name}' declared twice")
        default = self.string(keys["default"][1], "arg default") if "default" in keys else None
        description = self.string(keys["description"][1], "description") if "description" in keys else ""
        value = self.overrides.get(name, default)
        if value is None:
            raise self.error(body, f"launch argument '{name}' has no default; give {name}:=VALUE")
        self.values[name] = value
        return Arg(name, default, description, body.start_mark.line + 1)

    def node(self, body: Node, line: int) -> NodeSpec:
        keys = self.mapping(body, "node")
        for needed in ("pkg", "exec"):
            if needed not in keys:
                raise self.error(body, f"node: missing '{needed}'")
        pkg_node, exec_node = keys["pkg"][1], keys["exec"][1]
        package = self.string(pkg_node, "pkg")
        if package != PACKAGE:
            raise self.error(pkg_node, f"unknown package '{package}' (this launcher runs '{PACKAGE}')")
        executable = self.string(exec_node, "exec")
        if executable not in self.registry:
            near = difflib.get_close_matches(executable, list(self.registry), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise self.error(exec_node, f"unknown executable '{executable}' (not in "
                                        f"robot_dog.ros.node_registry){hint}")
        name = namespace = None
        if "name" in keys:
            name = self.string(keys["name"][1], "name")
            if not _NAME_RE.match(name):
                raise self.error(keys["name"][1], f"bad node name {name!r}")
        if "namespace" in keys:
            namespace = self.string(keys["namespace"][1], "namespace")
            if not _NAMESPACE_RE.match(namespace):
                raise self.error(keys["namespace"][1], f"bad namespace {namespace!r}")
        if "output" in keys and self.string(keys["output"][1], "output") not in ("screen", "log", "both"):
            raise self.error(keys["output"][1], "output must be screen, log or both")
        required = False
        if "on_exit" in keys:
            on_exit = self.string(keys["on_exit"][1], "on_exit")
            if on_exit != "shutdown":
                raise self.error(keys["on_exit"][1], f"on_exit: only 'shutdown' is supported, got {on_exit!r}")
            required = True
        delay = self.number(keys["respawn_delay"][1], "respawn_delay") if "respawn_delay" in keys else 0.0
        if delay < 0:
            raise self.error(keys["respawn_delay"][1], "respawn_delay must be >= 0 s")
        retries = (int(self.number(keys["respawn_max_retries"][1], "respawn_max_retries", integer=True))
                   if "respawn_max_retries" in keys else DEFAULT_RESPAWN_MAX_RETRIES)
        return NodeSpec(
            package=package, executable=executable, name=name, namespace=namespace,
            params=self.params(keys["param"][1]) if "param" in keys else (),
            remaps=self.remaps(keys["remap"][1]) if "remap" in keys else (),
            ros_args=self.words(keys["ros_args"][1], "ros_args") if "ros_args" in keys else (),
            args=self.words(keys["args"][1], "args") if "args" in keys else (),
            respawn=self.boolean(keys["respawn"][1], "respawn") if "respawn" in keys else False,
            respawn_delay_s=float(delay), respawn_max_retries=retries, required=required,
            line=line,
        )

    def params(self, node: Node) -> tuple[Param, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, "param must be a list of {name, value}")
        out: list[Param] = []
        seen: set[str] = set()
        for item in node.value:
            keys = self.mapping(item, "param")
            if set(keys) != {"name", "value"}:
                raise self.error(item, "param needs 'name' and 'value' (param files via 'from' are "
                                       "not supported)")
            name = self.string(keys["name"][1], "param name")
            if not _PARAM_NAME_RE.match(name):
                raise self.error(keys["name"][1], f"bad parameter name {name!r}")
            if name in seen:
                raise self.error(item, f"parameter '{name}' given twice")
            seen.add(name)
            out.append(Param(name, self.param_value(keys["value"][1], name), item.start_mark.line + 1))
        return tuple(out)

    def param_value(self, node: Node, name: str) -> ParamValue:
        """bool, int, float, str or a non-empty list of one of them (ints widen to floats)."""
        if isinstance(node, SequenceNode):
            items = [self.scalar(item) if isinstance(item, ScalarNode) else None for item in node.value]
            if not items:
                raise self.error(node, f"parameter '{name}': an empty list has no ROS type")
            kinds = {type(v) for v in items}
            if kinds == {int, float}:
                return tuple(float(v) for v in items)
            if len(kinds) != 1 or kinds.pop() not in (bool, int, float, str):
                raise self.error(node, f"parameter '{name}': a list must hold values of one type "
                                       "(bool, int, float or str)")
            return tuple(items)  # type: ignore[return-value]
        value = self.scalar(node) if isinstance(node, ScalarNode) else self.plain(node)
        if not isinstance(value, (bool, int, float, str)):
            raise self.error(node, f"parameter '{name}': bad type {type(value).__name__} "
                                   "(expected bool, int, float, str or a list of one of them)")
        return value

    def remaps(self, node: Node) -> tuple[Remap, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, "remap must be a list of {from, to}")
        out: list[Remap] = []
        for item in node.value:
            keys = self.mapping(item, "remap")
            if set(keys) != {"from", "to"}:
                raise self.error(item, "remap needs 'from' and 'to'")
            source = self.string(keys["from"][1], "remap from")
            target = self.string(keys["to"][1], "remap to")
            if not source or not target or ":=" in source + target:
                raise self.error(item, f"bad remap {source!r} -> {target!r}")
            out.append(Remap(source, target, item.start_mark.line + 1))
        return tuple(out)

    def check_unique(self, nodes: list[NodeSpec]) -> None:
        seen: dict[str, NodeSpec] = {}
        for spec in nodes:
            fqn = spec.fully_qualified_name
            if fqn is None:
                continue
            if fqn in seen:
                raise LaunchFileError(self.path, spec.line, f"node {fqn} already launched at line "
                                                            f"{seen[fqn].line}")
            seen[fqn] = spec
