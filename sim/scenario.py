"""Scenarios as YAML files (sim/scenarios/*.yaml), parsed into frozen dataclasses.

A scenario is the street the dog patrols: where on Earth (`geo_origin`, for `fix`), the light
(day/night), static objects, pedestrians walking their paths, sound events at given times, the
patrol route, faults at given times, and whether the sensors are `realistic` (noise and odometry
drift, sim.noise; off by default, so CI runs are exact). Everything random derives from `seed`. Parsing walks
yaml's node graph, so every error names the file, the line and the field:

    plaza_day.yaml:14: people[0].speed: must be within 0.1..3.0 m/s, not 9.0

Coordinates are metres in the world frame (REP 103: x east, y north, z up); times are seconds of
simulated time since the start; yaw in radians.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

SCENARIO_DIR = Path(__file__).with_name("scenarios")

OBJECT_KINDS = ("box", "building", "cylinder", "lamp_post", "car", "bench")
SOUND_KINDS = ("crowd", "shout", "glass_break", "car_horn")
#: fault kind -> (lowest, highest) `value` and its unit
FAULT_VALUES = {
    "camera_loss": (0.0, 0.0, ""), "low_battery": (0.0, 1.0, "charge"),
    "serial_corrupt": (0.0, 1.0, "per byte"), "serial_drop": (0.0, 1.0, "per frame"),
    "serial_unplug": (0.0, 0.0, ""), "estop_button": (0.0, 0.0, ""),
    "mqtt_delay": (0.0, 10.0, "s"), "mqtt_loss": (0.0, 1.0, "per chunk"),
    "mqtt_bandwidth": (100.0, 1e9, "bytes/s"), "mqtt_outage": (0.0, 0.0, ""),
}
FAULT_KINDS = tuple(FAULT_VALUES)
LIGHTING = ("day", "night")


class ScenarioError(RobotDogError, ValueError):
    """A scenario file is invalid: `path:line: field: message`."""

    def __init__(self, path: str, line: int | None, field_name: str, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field_name, message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}")


@dataclass(frozen=True)
class GeoOrigin:
    latitude: float          # deg of the world origin
    longitude: float         # deg
    altitude: float = 0.0    # m


@dataclass(frozen=True)
class Pose2D:
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0


@dataclass(frozen=True)
class SceneObject:
    kind: str
    name: str
    x: float
    y: float
    yaw: float
    size: tuple[float, float, float]          # m: length, width, height (cylinders: d, d, h)
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class Pedestrian:
    name: str
    path: tuple[tuple[float, float], ...]     # walked as a closed loop
    speed: float                              # m/s


@dataclass(frozen=True)
class SoundEvent:
    kind: str
    at: float                                 # s of sim time; crowd: from then on
    x: float
    y: float
    level_db: float                           # dB SPL at 1 m


@dataclass(frozen=True)
class FaultEvent:
    kind: str
    at: float                                 # s of sim time
    duration: float                           # s (0: until the end)
    value: float                              # see FAULT_VALUES (rate, charge, s, bytes/s)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    seed: int
    lighting: str
    geo_origin: GeoOrigin
    start: Pose2D
    route: tuple[tuple[float, float], ...]    # patrol waypoints, walked in a loop
    route_speed: float                        # m/s
    objects: tuple[SceneObject, ...] = ()
    people: tuple[Pedestrian, ...] = ()
    sounds: tuple[SoundEvent, ...] = ()
    faults: tuple[FaultEvent, ...] = ()
    description: str = ""
    realistic: bool = False                   # sensor noise and odometry drift (sim.noise)
    extra: dict[str, Any] = field(default_factory=dict)


_DEFAULT_SIZE = {"box": (1.0, 1.0, 1.0), "building": (10.0, 8.0, 12.0), "cylinder": (0.6, 0.6, 1.0),
                 "lamp_post": (0.15, 0.15, 4.5), "car": (4.4, 1.8, 1.5), "bench": (1.8, 0.5, 0.45)}
_DEFAULT_RGBA = {"box": (0.6, 0.5, 0.4, 1), "building": (0.75, 0.72, 0.66, 1),
                 "cylinder": (0.5, 0.5, 0.5, 1), "lamp_post": (0.2, 0.2, 0.22, 1),
                 "car": (0.15, 0.3, 0.6, 1), "bench": (0.45, 0.3, 0.15, 1)}


class _Reader:
    """Typed access to yaml nodes; every failure raises ScenarioError with file, line, field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: Node | None, name: str, message: str) -> ScenarioError:
        return ScenarioError(self.path, None if node is None else node.start_mark.line + 1, name, message)

    def mapping(self, node: Node, name: str, keys: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, name, "must be a mapping")
        out: dict[str, Node] = {}
        for key_node, value in node.value:
            key = key_node.value
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(keys)})"
                raise self.fail(key_node, f"{name}.{key}" if name else str(key), f"unknown field{hint}")
            out[key] = value
        return out

    def sequence(self, node: Node, name: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, name, "must be a list")
        return list(node.value)

    def number(self, node: Node, name: str, low: float | None = None, high: float | None = None,
               unit: str = "") -> float:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, name, "must be a number")
        try:
            value = float(node.value)
        except ValueError:
            raise self.fail(node, name, f"must be a number, not {node.value!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(node, name, "must be finite")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(node, name, f"must be within {low}..{high}{' ' + unit if unit else ''}, "
                                        f"not {node.value}")
        return value

    def flag(self, node: Node, name: str) -> bool:
        if not isinstance(node, ScalarNode) or node.value not in ("true", "false"):
            raise self.fail(node, name, "must be true or false")
        return node.value == "true"

    def integer(self, node: Node, name: str) -> int:
        if not isinstance(node, ScalarNode) or not node.value.lstrip("-").isdigit():
            raise self.fail(node, name, "must be an integer")
        return int(node.value)

    def text(self, node: Node, name: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(node, ScalarNode) or not node.value:
            raise self.fail(node, name, "must be a non-empty string")
        if choices is not None and node.value not in choices:
            raise self.fail(node, name, f"unknown {node.value!r} (one of: {', '.join(choices)})")
        return str(node.value)

    def vector(self, node: Node, name: str, size: int, low: float | None = None,
               high: float | None = None) -> tuple[float, ...]:
        items = self.sequence(node, name)
        if len(items) != size:
            raise self.fail(node, name, f"must have {size} numbers, not {len(items)}")
        return tuple(self.number(n, f"{name}[{i}]", low, high) for i, n in enumerate(items))

    def points(self, node: Node, name: str, minimum: int) -> tuple[tuple[float, float], ...]:
        items = self.sequence(node, name)
        if len(items) < minimum:
            raise self.fail(node, name, f"needs at least {minimum} points [x, y]")
        return tuple(self.vector(n, f"{name}[{i}]", 2) for i, n in enumerate(items))  # type: ignore[misc]


_TOP = ("name", "description", "seed", "lighting", "geo_origin", "start", "route", "route_speed",
        "objects", "people", "sounds", "faults", "realistic")


def load_scenario(source: str | Path) -> Scenario:
    """Parse a scenario file, or a name from sim/scenarios/ (e.g. `plaza_day`)."""
    path = Path(source)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{source}.yaml"
    try:
        text = path.read_text()
    except OSError as exc:
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(str(path), None, "", f"cannot read ({exc.strerror}); "
                            f"bundled scenarios: {known}") from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    r = _Reader(path)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError(path, None if mark is None else mark.line + 1, "",
                            f"YAML error: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise ScenarioError(path, 1, "", "empty scenario")
    top = r.mapping(root, "", _TOP)
    for required in ("name", "seed", "geo_origin", "route"):
        if required not in top:
            raise ScenarioError(path, root.start_mark.line + 1, required, "missing")

    geo = r.mapping(top["geo_origin"], "geo_origin", ("latitude", "longitude", "altitude"))
    for key in ("latitude", "longitude"):
        if key not in geo:
            raise r.fail(top["geo_origin"], f"geo_origin.{key}", "missing")
    origin = GeoOrigin(r.number(geo["latitude"], "geo_origin.latitude", -90, 90, "deg"),
                       r.number(geo["longitude"], "geo_origin.longitude", -180, 180, "deg"),
                       r.number(geo["altitude"], "geo_origin.altitude", -500, 9000, "m")
                       if "altitude" in geo else 0.0)
    start = Pose2D()
    if "start" in top:
        s = r.mapping(top["start"], "start", ("x", "y", "yaw"))
        start = Pose2D(*(r.number(s[k], f"start.{k}") if k in s else 0.0 for k in ("x", "y", "yaw")))

    objects = []
    for i, node in enumerate(r.sequence(top["objects"], "objects") if "objects" in top else []):
        name = f"objects[{i}]"
        o = r.mapping(node, name, ("kind", "name", "pos", "yaw", "size", "rgba"))
        if "kind" not in o or "pos" not in o:
            raise r.fail(node, name, "needs kind and pos")
        kind = r.text(o["kind"], f"{name}.kind", OBJECT_KINDS)
        x, y = r.vector(o["pos"], f"{name}.pos", 2)
        objects.append(SceneObject(
            kind=kind, name=r.text(o["name"], f"{name}.name") if "name" in o else f"{kind}_{i}",
            x=x, y=y, yaw=r.number(o["yaw"], f"{name}.yaw") if "yaw" in o else 0.0,
            size=r.vector(o["size"], f"{name}.size", 3, 0.01, 200) if "size" in o else _DEFAULT_SIZE[kind],
            rgba=r.vector(o["rgba"], f"{name}.rgba", 4, 0, 1) if "rgba" in o else _DEFAULT_RGBA[kind]))

    people = []
    for i, node in enumerate(r.sequence(top["people"], "people") if "people" in top else []):
        name = f"people[{i}]"
        p = r.mapping(node, name, ("name", "path", "speed"))
        if "path" not in p:
            raise r.fail(node, f"{name}.path", "missing")
        people.append(Pedestrian(
            name=r.text(p["name"], f"{name}.name") if "name" in p else f"person_{i}",
            path=r.points(p["path"], f"{name}.path", 2),
            speed=r.number(p["speed"], f"{name}.speed", 0.1, 3.0, "m/s") if "speed" in p else 1.2))

    sounds = []
    for i, node in enumerate(r.sequence(top["sounds"], "sounds") if "sounds" in top else []):
        name = f"sounds[{i}]"
        s = r.mapping(node, name, ("kind", "at", "pos", "level_db"))
        if "kind" not in s or "pos" not in s:
            raise r.fail(node, name, "needs kind and pos")
        x, y = r.vector(s["pos"], f"{name}.pos", 2)
        sounds.append(SoundEvent(
            kind=r.text(s["kind"], f"{name}.kind", SOUND_KINDS),
            at=r.number(s["at"], f"{name}.at", 0, 86400, "s") if "at" in s else 0.0, x=x, y=y,
            level_db=r.number(s["level_db"], f"{name}.level_db", 20, 140, "dB SPL")
            if "level_db" in s else 80.0))

    faults = []
    for i, node in enumerate(r.sequence(top["faults"], "faults") if "faults" in top else []):
        name = f"faults[{i}]"
        f = r.mapping(node, name, ("kind", "at", "duration", "value"))
        if "kind" not in f or "at" not in f:
            raise r.fail(node, name, "needs kind and at")
        kind = r.text(f["kind"], f"{name}.kind", FAULT_KINDS)
        low, high, unit = FAULT_VALUES[kind]
        faults.append(FaultEvent(
            kind=kind, at=r.number(f["at"], f"{name}.at", 0, 86400, "s"),
            duration=r.number(f["duration"], f"{name}.duration", 0, 86400, "s") if "duration" in f else 0.0,
            value=r.number(f["value"], f"{name}.value", low, high, unit) if "value" in f else low))

    return Scenario(
        name=r.text(top["name"], "name"), path=path,
        seed=r.integer(top["seed"], "seed"),
        lighting=r.text(top["lighting"], "lighting", LIGHTING) if "lighting" in top else "day",
        geo_origin=origin, start=start,
        route=r.points(top["route"], "route", 2),
        route_speed=r.number(top["route_speed"], "route_speed", 0.1, 1.5, "m/s")
        if "route_speed" in top else 0.6,
        objects=tuple(objects), people=tuple(people), sounds=tuple(sounds), faults=tuple(faults),
        description=r.text(top["description"], "description") if "description" in top else "",
        realistic=r.flag(top["realistic"], "realistic") if "realistic" in top else False)
