"""Faster than real time on one time base: the simulator at real_time_factor 5 with /clock and
the patrol follower on use_sim_time walk the route as at real time: the same path and the
same speed in sim seconds (commands neither expire early nor pile up). The patrol's `patrol/cmd_vel` is remapped
straight to the base's `cmd_vel` (no mux: its timeouts are its own part's); the test only
listens to `odom` (plain rclpy).
"""
from __future__ import annotations

import math
import threading
import uuid
from functools import partial

import pytest
import rclpy
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from tests import support
from tests.fixtures.ros_nodes import NodeProcess

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)
SIM_SECONDS = 10.0   # of walking, compared between the runs
# Commands 0.17 s of sim time apart hold the base (it stands 0.5 s after the last); on wall
# time at 5x they would come 0.83 s of sim time apart and the dog would stop and go.
PATROL_HZ = 6.0


def walk(tmp_path, real_time_factor: float) -> list[tuple[float, float, float]]:
    """(sim time s, x, y) of odom from the first move until SIM_SECONDS later."""
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("odom_listener", namespace=namespace, context=context)
    track: list[tuple[float, float, float]] = []
    node.create_subscription(Odometry, "odom", lambda m: track.append(
        (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, m.pose.pose.position.x,
         m.pose.pose.position.y)), QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=lambda: _spin(executor), daemon=True)
    spinner.start()
    sim = NodeProcess("sim.node", namespace, tmp_path / f"sim{real_time_factor}.log",
                      mode="kinematic", scenario="plaza_day", render=False, street_audio=False,
                      publish_clock=True, real_time_factor=real_time_factor)
    patrol = None
    try:
        # The dog must be heard standing before the patrol starts it: the walk is timed from there.
        wait_for(lambda: track, "odom from the simulator")
        patrol = NodeProcess("robot_dog.patrol.node", namespace, tmp_path / f"patrol{real_time_factor}.log",
                             remaps={"patrol/cmd_vel": "cmd_vel"}, scenario="plaza_day",
                             rate_hz=PATROL_HZ, use_sim_time=True)

        def moving_for() -> float:
            moved = [t for t, x, y in list(track) if math.hypot(x, y) > 0.01]
            return moved[-1] - moved[0] if moved else 0.0
        wait_for(lambda: moving_for() >= SIM_SECONDS, f"{SIM_SECONDS} s of walking at {real_time_factor}x")
    finally:
        if patrol is not None:
            patrol.kill()
        sim.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    points = list(track)
    start = next(i for i, (_, x, y) in enumerate(points) if math.hypot(x, y) > 0.01) - 1
    assert start >= 0, "the first odom heard was already moving"
    t0 = points[start][0]
    return [(t - t0, x, y) for t, x, y in points[start:] if t - t0 <= SIM_SECONDS]


def _spin(executor: SingleThreadedExecutor) -> None:
    try:
        executor.spin()
    except Exception:  # noqa: BLE001 (shut down at the end)
        pass


def distance(track: list[tuple[float, float, float]]) -> float:
    return sum(math.hypot(b[1] - a[1], b[2] - a[2]) for a, b in zip(track, track[1:]))


def test_five_times_real_time_walks_the_real_time_route(tmp_path):
    real = walk(tmp_path, 1.0)
    fast = walk(tmp_path, 5.0)
    assert distance(real) > 0.5 * 0.6 * SIM_SECONDS          # it walked (route speed 0.6 m/s)
    assert distance(fast) == pytest.approx(distance(real), rel=0.05)
    # the same path: every point of the fast run lies on the real-time one
    for _, x, y in fast[::10]:
        nearest = min(math.hypot(x - a, y - b) for _, a, b in real)
        assert nearest < 0.05 * distance(real), (x, y, nearest)
