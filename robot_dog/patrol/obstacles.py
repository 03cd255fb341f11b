"""Where no goal can end: the ground footprints of a scenario's objects (sim/scenario.py).

The patrol node knows a map only when it runs with a `scenario` (the simulated street): its
objects are in the scenario's world frame, which is the simulator's odom frame (sim/core.py), so
the footprints serve goals in odom as they are. Without a scenario (a dog with no map) there are
no footprints and a point inside a wall is taken; the dog then ends it `blocked` (goal.py).

A footprint is the object's outline on the ground as sim/model.py builds it: a rotated rectangle
(box, building, bench, car) or a circle (cylinder, lamp post). People walk and are no obstacle to
a goal's end point.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]
ROUND_KINDS = ("cylinder", "lamp_post")   # size[0] is the diameter
LAMP_POST_MIN_D = 0.05                    # m: sim/model.py draws no thinner post


@dataclass(frozen=True)
class Footprint:
    name: str
    kind: str
    x: float
    y: float
    yaw: float            # rad
    half_length: float    # m along the object's x (a circle: its radius)
    half_width: float     # m along its y (a circle: its radius)
    round: bool = False

    def contains(self, point: Point) -> bool:
        dx, dy = point[0] - self.x, point[1] - self.y
        if self.round:
            return math.hypot(dx, dy) <= self.half_length
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        along, across = c * dx + s * dy, -s * dx + c * dy   # into the object's own frame
        return abs(along) <= self.half_length and abs(across) <= self.half_width


def footprints(objects: Iterable[Any]) -> tuple[Footprint, ...]:
    """Footprints of scenario objects (sim.scenario.SceneObject: kind, name, x, y, yaw, size)."""
    out = []
    for o in objects:
        length, width = float(o.size[0]), float(o.size[1])
        if o.kind in ROUND_KINDS:
            radius = max(length, LAMP_POST_MIN_D if o.kind == "lamp_post" else 0.0) / 2
            out.append(Footprint(o.name, o.kind, o.x, o.y, 0.0, radius, radius, round=True))
        else:
            out.append(Footprint(o.name, o.kind, o.x, o.y, o.yaw, length / 2, width / 2))
    return tuple(out)


def obstacle_at(point: Point, obstacles: Sequence[Footprint]) -> Footprint | None:
    """The first footprint `point` lies in (its edge counts as inside), or None."""
    return next((f for f in obstacles if f.contains(point)), None)
