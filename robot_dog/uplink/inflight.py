"""Commands waiting for their service's answer, each with a deadline (pure; no rclpy, no clock).

A station command becomes a ROS service call on the dog. Each is answered exactly once: by the
service (`finish`) or, if the service stays silent past the deadline, as `timeout` (`expire`),
whichever comes first; the later of the two then finds nothing and stays silent. Time comes in
as `now` (s, monotonic), so the policy is tested with a fake clock. Thread-safe: the executor's
done-callbacks and the node's timer call it from different threads.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    def __init__(self, deadline_s: float) -> None:
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be > 0, got {deadline_s}")
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._items: dict[str, tuple[T, float]] = {}  # key -> (item, deadline)

    def start(self, key: str, item: T, now: float) -> None:
        """`item` (e.g. future and command) waits for an answer until now + deadline_s."""
        with self._lock:
            if key in self._items:
                raise ValueError(f"{key!r} is already in flight")
            self._items[key] = (item, now + self.deadline_s)

    def finish(self, key: str) -> T | None:
        """The service answered: the item to answer, or None if it was answered as expired."""
        with self._lock:
            entry = self._items.pop(key, None)
        return None if entry is None else entry[0]

    def expire(self, now: float) -> list[T]:
        """Items past their deadline, removed (answer each as `timeout`), oldest first."""
        with self._lock:
            late = [key for key, (_item, deadline) in self._items.items() if now > deadline]
            return [self._items.pop(key)[0] for key in late]

    def next_deadline(self) -> float | None:
        with self._lock:
            return min((deadline for _item, deadline in self._items.values()), default=None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
