"""Pedestrians walk their scenario paths as closed loops at constant speed (pure, no MuJoCo)."""
from __future__ import annotations

import math
from collections.abc import Sequence


def position_on_loop(path: Sequence[tuple[float, float]], speed: float, t: float) -> tuple[float, float, float]:
    """(x, y, yaw) after walking `t` s at `speed` m/s around the closed loop `path` (m).

    A two-point path is walked there and back."""
    points = list(path) + [path[0]]
    legs = [(a, b, math.dist(a, b)) for a, b in zip(points, points[1:]) if math.dist(a, b) > 0]
    if not legs:
        return path[0][0], path[0][1], 0.0
    s = (speed * t) % sum(length for *_, length in legs)
    for (ax, ay), (bx, by), length in legs:
        if s <= length:
            f = s / length
            return ax + f * (bx - ax), ay + f * (by - ay), math.atan2(by - ay, bx - ax)
        s -= length
    (ax, ay), (bx, by), _ = legs[-1]
    return bx, by, math.atan2(by - ay, bx - ax)
