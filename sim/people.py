"""Pedestrians walk their scenario paths as closed loops at constant speed (pure, no MuJoCo)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

Point = tuple[float, float]


def position_on_loop(path: Sequence[tuple[float, float]], speed: float, t: float) -> tuple[float, float, float]:
    """(x, y, yaw) after walking `t` s at `speed` m/s around the closed loop `path` (m).

    A two-point path is walked there and back."""
    legs, total = _legs(tuple(map(tuple, path)))
    if not legs:
        return path[0][0], path[0][1], 0.0
    s = (speed * t) % total
    for (ax, ay), (bx, by), length in legs:
        if s <= length:
            f = s / length
            return ax + f * (bx - ax), ay + f * (by - ay), math.atan2(by - ay, bx - ax)
        s -= length
    (ax, ay), (bx, by), _ = legs[-1]
    return bx, by, math.atan2(by - ay, bx - ax)


@lru_cache(maxsize=256)
def _legs(path: tuple[Point, ...]) -> tuple[tuple[tuple[Point, Point, float], ...], float]:
    """The loop's non-empty legs (start, end, length) and its length: the simulator asks for
    every pedestrian's position every control tick, the path never changes."""
    points = list(path) + [path[0]]
    legs = tuple((a, b, math.dist(a, b)) for a, b in zip(points, points[1:]) if math.dist(a, b) > 0)
    return legs, sum(length for *_, length in legs)
