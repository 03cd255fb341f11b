"""Order statistics every benchmark quotes, and the loud failure when there is nothing to quote.

A benchmark that collected no samples raises `NoSamples` with what it was waiting for, instead
of a figure of nan or a `statistics.StatisticsError` from deep inside; `./dev.sh bench` prints
the reason and exits non-zero.
"""
from __future__ import annotations

from collections.abc import Sequence


class NoSamples(RuntimeError):
    """A benchmark collected nothing to measure; the message says what and where to look."""


def percentile(values: Sequence[float], q: float, what: str = "samples") -> float:
    """The q-quantile (0..1) by the nearest-rank method: a value that was measured."""
    if not values:
        raise NoSamples(f"no {what} collected")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside 0..1")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: Sequence[float], prefix: str, unit: str, what: str) -> dict[str, float]:
    """`{prefix}_p50_{unit}`, p99 and max of `values` (NoSamples when there are none)."""
    return {f"{prefix}_p50_{unit}": percentile(values, 0.5, what),
            f"{prefix}_p99_{unit}": percentile(values, 0.99, what),
            f"{prefix}_max_{unit}": max(values)}
