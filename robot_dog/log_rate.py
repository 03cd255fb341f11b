"""How often a repeated event earns a log line: the 1st, 10th, 100th and 1,000th, then every
10,000th. A flood of bad input (refused frames, dead letters, failing callbacks) leaves a
handful of lines with its count, never one line per event."""
from __future__ import annotations


def worth_a_line(count: int) -> bool:
    """True for the occurrences of a repeated event that get a log line (`count` from 1)."""
    return count in (1, 10, 100, 1000) or count % 10_000 == 0
