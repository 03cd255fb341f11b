"""The executors our nodes spin on, each chosen for a stated reason (docs/architecture.md, Executors).

rclpy's `MultiThreadedExecutor` (Kilted, rclpy 9) hands a ready callback to its thread pool and
keeps the handler in its task list; until a worker has *started* it, every wake of the executor
yields the same handler again and submits it again. Each callback start and end wakes the
executor, so while the pool is saturated (a 20 ms JPEG re-encode and a Reentrant service wait on
two cores) one handler is submitted hundreds of times: measured on the uplink, 87-99 % of a core
at rest and 2,366-3,499 futures not done, growing, where a `SingleThreadedExecutor` used 6 %.

- `SingleThreadedExecutor` is the default: callbacks run one at a time in the spinning thread,
  in order, with no pool and no storm. A node on it never blocks in a callback (a service call
  whose answer it needs is an `async def` callback that awaits the future).
- `PooledExecutor` is for nodes that must run callbacks concurrently (they say why, in
  `EXECUTOR_REASON`): a MultiThreadedExecutor that submits each handler once and lets the wait
  set, not a resubmission loop, tell it when there is more to do.

`executor_for(nodes)` picks for one node or a composed set: pooled if any of them needs it.

Composed in one process (`robot-dog launch --single-process`), a node whose timing is a safety
promise (`OWN_EXECUTOR = "<why>"` on its class: safety_node's watchdog and deadlines,
payload_node's MCU check-ins) spins on an executor and a thread of its own, never queued
behind another node's callback (a 20 ms JPEG encode, an announcement's TTS).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future as PoolFuture
from typing import Any, Literal

from rclpy.executors import (ConditionReachedException, Executor, ExternalShutdownException,
                             MultiThreadedExecutor, ShutdownException, SingleThreadedExecutor,
                             TimeoutException)
from rclpy.node import Node

ExecutorKind = Literal["single", "pooled"]


class PooledExecutor(MultiThreadedExecutor):
    """A MultiThreadedExecutor whose handlers are submitted to the pool once at a time.

    A handler (an rclpy Task) that is queued or running is not submitted again; once it returns
    it may be submitted again (a coroutine callback that awaits a future resumes that way).
    Exceptions raised by callbacks surface in the spinning thread, as rclpy's own does.
    """

    def __init__(self, num_threads: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_threads, **kwargs)
        self._in_pool: set[Any] = set()
        self._in_pool_lock = threading.Lock()
        self._finished: list[Any] = []

    def in_pool(self) -> int:
        """Handlers queued or running now (bounded by the number of ready entities)."""
        with self._in_pool_lock:
            return len(self._in_pool)

    def _run(self, handler: Any) -> None:
        try:
            handler()
        finally:
            with self._in_pool_lock:
                self._in_pool.discard(handler)
                if handler.done():
                    self._finished.append(handler)

    def _spin_once_impl(self, timeout_sec: Any = None,
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            handler, _entity, _node = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException,
                ConditionReachedException):
            return
        with self._in_pool_lock:
            submit = handler not in self._in_pool and not handler.done()
            if submit:
                self._in_pool.add(handler)
            finished, self._finished = self._finished, []
        if submit:
            future: PoolFuture[None] = self._executor.submit(self._run, handler)
            del future  # _run records the outcome; the handler (a Task) holds any exception
        for task in finished:
            task.result()  # raise a callback's exception here, in the spinning thread


#: The longest an executor waits before it looks at its context again. rclpy's signal handler
#: shuts the context down from a thread of its own, without the on-shutdown callbacks that wake
#: an executor: a wake that still saw the context up and went back to an unbounded wait never
#: returned. Seen in `bench talk`: megaphone_node still in `wait_set.wait` 20 s after SIGTERM,
#: its context already invalid; reproduced by shutting a context's handle down beside a spinning
#: executor (tests/test_ros_executors.py). One extra wake a second per node costs ~0.5 ms.
SHUTDOWN_POLL_S = 1.0


def spin_until_shutdown(executor: Executor, poll_s: float = SHUTDOWN_POLL_S) -> None:
    """`executor.spin()`, but never waiting longer than `poll_s` without checking the context
    and the executor's own shutdown; raises what `spin_once` raises (an external shutdown)."""
    while executor.context.ok() and not getattr(executor, "_is_shutdown", False):
        executor.spin_once(timeout_sec=poll_s)


def node_executor_kind(node: Node) -> ExecutorKind:
    """What a node asks for (class attribute `EXECUTOR`); `single` when it says nothing."""
    return getattr(node, "EXECUTOR", "single")


def needs_own_executor(node: Node) -> bool:
    """A node whose callbacks must never wait behind other nodes' in a composed process."""
    return bool(getattr(node, "OWN_EXECUTOR", ""))


def executor_for(nodes: Iterable[Node], **kwargs: Any) -> Executor:
    kinds = {node_executor_kind(n) for n in nodes}
    return PooledExecutor(**kwargs) if "pooled" in kinds else SingleThreadedExecutor(**kwargs)
