"""launch/payload.launch.yaml parses, names a registered exe, and the node composes in-process."""
from __future__ import annotations

import pytest

from pathlib import Path

import rclpy
from rclpy.parameter import Parameter

from robot_dog.launch.description import load
from robot_dog.ros.node_registry import NODES

ROOT = Path(__file__).resolve().parents[1]


def test_launch_file_uses_registered_payload_node() -> None:
    description = load(ROOT / "launch" / "payload.launch.yaml")
    [node] = description.nodes
    assert (node.executable, node.name, node.namespace) == ("payload_node", "payload", "dog1")
    assert NODES[node.executable] == "robot_dog.payload.node:PayloadNode"
    assert {p.name: p.value for p in node.params}["port"] == "/tmp/robot_dog_mcu"


@pytest.mark.slow
def test_node_class_accepts_rclpy_kwargs_for_composition(virtual_mcu, ros_namespace) -> None:
    from robot_dog.payload.node import PayloadNode
    context = rclpy.Context()
    rclpy.init(context=context)
    node = None
    try:
        node = PayloadNode(node_name="payload_composed", namespace=ros_namespace, context=context,
                           parameter_overrides=[Parameter("port", value=str(virtual_mcu.link))])
        assert node.get_namespace() == ros_namespace
        assert node._link.wait_up(10.0)   # it owns the port and handshakes with the MCU
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.mark.slow
def test_payload_node_killed_9_is_respawned_by_the_launcher(virtual_mcu) -> None:
    """kill -9 of payload_node: the MCU goes safe (no heartbeat), the launcher starts it again
    and the new node's heartbeat brings the MCU back out of the heartbeat-lost state."""
    import signal
    import uuid

    import psutil

    from tests.fixtures.launch import LaunchedStack
    stack = LaunchedStack(str(ROOT / "launch" / "payload.launch.yaml"),
                          f"dog:=t{uuid.uuid4().hex[:8]}", f"mcu_port:={virtual_mcu.link}")
    try:
        stack.wait_for(r"\[payload\] started pid")
        assert virtual_mcu.wait_for(lambda s: not s["safe"], timeout=30.0), stack.lines[-20:]
        [pid] = [int(line.split("started pid ")[1].split(":")[0])
                 for line in stack.wait_for(r"\[payload\] started pid")]
        psutil.Process(pid).send_signal(signal.SIGKILL)
        assert virtual_mcu.wait_for(lambda s: "HEARTBEAT_LOST" in s["safe_reasons"], timeout=10.0)
        stack.wait_for(r"\[payload\] killed by SIGKILL; respawn 1 in 1 s")
        stack.wait_for(r"\[payload\] started pid", count=2)
        assert virtual_mcu.wait_for(lambda s: not s["safe"], timeout=30.0), stack.lines[-20:]
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=30.0) == 0
    finally:
        stack.kill_tree()
