"""The executors nodes spin on (robot_dog/ros/executors.py): the pooled one submits each ready
handler once, even while its pool is saturated, and a callback's exception still surfaces."""
import time

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from robot_dog.ros.executors import PooledExecutor, executor_for


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


def _spin_for(executor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)


def test_saturated_pool_submits_each_handler_once(context):
    """Two workers, three timers of 30 ms work every 10 ms: the pool is always full. Stock rclpy
    resubmits a queued handler on every wake; ours submits it once per run."""
    node = Node("pool_probe", context=context)
    runs = []
    group = ReentrantCallbackGroup()

    def work(i: int) -> None:
        runs.append(i)
        time.sleep(0.03)
    for i in range(3):
        node.create_timer(0.01, lambda i=i: work(i), callback_group=group)
    executor = PooledExecutor(num_threads=2, context=context)
    executor.add_node(node)
    submitted = []
    real_submit = executor._executor.submit

    def counting_submit(fn, *args):
        submitted.append(args)
        return real_submit(fn, *args)
    executor._executor.submit = counting_submit
    peak = 0
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        peak = max(peak, executor.in_pool())
    executor.shutdown()
    node.destroy_node()
    assert runs, "no callback ran"
    # At most one handler waiting per timer, plus one running per worker.
    assert peak <= 3 + 2, f"{peak} handlers queued or running at once for 3 timers"
    assert len(submitted) <= len(runs) + 3 + 2, f"{len(submitted)} submissions for {len(runs)} runs"


def test_callback_exception_reaches_the_spinning_thread(context):
    node = Node("raiser", context=context)
    node.create_timer(0.01, lambda: 1 / 0)
    executor = PooledExecutor(num_threads=2, context=context)
    executor.add_node(node)
    with pytest.raises(ZeroDivisionError):
        _spin_for(executor, 2.0)
    executor.shutdown()
    node.destroy_node()


def test_nodes_choose_their_executor(context):
    plain = Node("plain", context=context)

    class Busy(Node):
        EXECUTOR = "pooled"
    busy = Busy("busy", context=context)
    assert isinstance(executor_for([plain], context=context), SingleThreadedExecutor)
    assert isinstance(executor_for([plain, busy], context=context), PooledExecutor)
    plain.destroy_node()
    busy.destroy_node()


def test_async_callback_awaits_without_blocking_the_single_threaded_executor(context):
    """The pattern nodes on the default executor use instead of blocking: await the answer;
    other callbacks run meanwhile (the answer here comes 0.3 s later)."""
    from rclpy.task import Future
    node = Node("awaiter", context=context)
    answer: Future = Future()
    later = node.create_timer(0.3, lambda: (answer.set_result("ok"), later.cancel()))
    results, ticks = [], []

    async def ask() -> None:
        results.append(await answer)
    node.create_timer(0.01, lambda: ticks.append(1))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.create_task(ask)
    deadline = time.monotonic() + 10
    while not results and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    assert results == ["ok"]
    assert len(ticks) >= 5, f"only {len(ticks)} ticks while the answer was awaited"
    executor.shutdown()
    node.destroy_node()


def test_nodes_whose_timing_is_a_safety_promise_ask_for_an_executor_of_their_own(context):
    """Composed, safety_node and payload_node spin apart (robot_dog/launch/compose.py); a plain
    node shares the pool."""
    from robot_dog.payload.node import PayloadNode
    from robot_dog.ros.executors import needs_own_executor
    from robot_dog.safety.node import SafetyNode
    assert isinstance(SafetyNode.OWN_EXECUTOR, str) and isinstance(PayloadNode.OWN_EXECUTOR, str)
    plain = Node("plain_probe", context=context)
    assert not needs_own_executor(plain)
    safety = SafetyNode(context=context)
    try:
        assert needs_own_executor(safety)
    finally:
        safety.destroy_node()


@pytest.mark.parametrize("kind", [SingleThreadedExecutor, PooledExecutor])
def test_a_context_shut_down_without_a_wake_still_ends_the_spin(context, kind):
    """rclpy's signal handler shuts the context down from its own thread, without the callbacks
    that wake an executor; an executor already back in an unbounded wait never returned
    (`Executor.spin()` still waits here). Ours looks at the context again within a second."""
    import threading

    from robot_dog.ros.executors import spin_until_shutdown
    node = Node("shutdown_probe", context=context)
    executor = kind(context=context)
    executor.add_node(node)
    ended = threading.Event()

    def spin() -> None:
        try:
            spin_until_shutdown(executor, poll_s=0.2)
        except Exception:  # noqa: BLE001 - an external shutdown may surface as an exception: it ended
            pass
        ended.set()
    threading.Thread(target=spin, daemon=True).start()
    time.sleep(0.3)           # the executor is in its wait
    context.handle.shutdown()  # what the signal handler's thread does: no on-shutdown callbacks
    assert ended.wait(5.0), "the executor still waits on a context that is shut down"
    assert not context.ok()
