"""One side of tests/test_isolation.py: run by two pytest processes at once, never collected by
the suite itself (not named test_*.py).

Each side publishes its mark on the same topic name, in a namespace-free topic on purpose, and
watches the ROS graph. It waits until the other side is up, then until it has received 20 of its
own messages sent while both were up (2 s of shared life at 10 Hz; discovery on loopback takes
well under 1 s), and reports what it saw: another run's message or node means cross-talk.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from tests.support import wait_for

TOPIC = "/isolation_probe/chatter"  # the same name in both runs: only the domain keeps them apart


def test_this_run_hears_only_itself() -> None:
    mark, shared = os.environ["ISOLATION_MARK"], Path(os.environ["ISOLATION_DIR"])
    other = "b" if mark == "a" else "a"
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f"isolation_probe_{mark}", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    heard: list[str] = []
    node.create_subscription(String, TOPIC, lambda m: heard.append(m.data), 10)
    pub = node.create_publisher(String, TOPIC, 10)
    node.create_timer(0.1, lambda: pub.publish(String(data=mark)))
    try:
        (shared / f"{mark}.up").write_text(os.environ["ROS_DOMAIN_ID"])

        def spin_until(predicate):
            def step():
                executor.spin_once(timeout_sec=0.05)
                return predicate()
            return step
        wait_for(spin_until(lambda: (shared / f"{other}.up").exists()), "the other run's probe",
                 timeout_s=300)
        start = len(heard)
        wait_for(spin_until(lambda: heard[start:].count(mark) >= 20),
                 "20 of this run's own messages while both runs are up", timeout_s=120)
        graph = sorted(f"{ns.rstrip('/')}/{name}" for name, ns in node.get_node_names_and_namespaces())
        report = {"domain": os.environ["ROS_DOMAIN_ID"], "own": heard.count(mark),
                  "other": heard.count(other), "graph": graph}
        (shared / f"{mark}.json").write_text(json.dumps(report))
        (shared / f"{mark}.done").touch()
        # Stay in the graph until the other side has looked too.
        wait_for(spin_until(lambda: (shared / f"{other}.done").exists()), "the other run to finish",
                 timeout_s=300)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert report["other"] == 0, f"heard the other run: {report}"
    assert not [n for n in graph if f"isolation_probe_{other}" in n], f"saw the other run: {graph}"
