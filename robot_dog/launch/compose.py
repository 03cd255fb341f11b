"""`--single-process`: every node of a launch file in this process, on one shared executor
(pooled: composed nodes must not wait on each other's callbacks), except the nodes whose timing
is a safety promise (`OWN_EXECUTOR`): each spins on its own executor in a thread of its own
(robot_dog/ros/executors.py).

Composition saves one Python interpreter + DDS participant per node (the memory goal of the
composed dog stack). What it cannot do: respawn (a crash takes the whole process down) and
per-node `args` (there is one argv); both are logged, not silently dropped.
"""
from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

import rclpy
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter

from robot_dog.launch.description import LaunchDescription, NodeSpec
from robot_dog.ros import dds_env
from robot_dog.ros.executors import PooledExecutor, executor_for, needs_own_executor, spin_until_shutdown
from robot_dog.ros.node_registry import NODES
from robot_dog.ros.priority import cpu_nice, raise_priority, raise_session_priority
from robot_dog.ros.teardown import end_ros
from robot_dog.ros.ros_main import quiet_stop_during_start

_LOGGER = logging.getLogger(__name__)


def node_class(executable: str) -> type[Node]:
    module_name, _, class_name = NODES[executable].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def node_kwargs(spec: NodeSpec) -> dict[str, Any]:
    """rclpy Node keyword arguments equivalent to the process command line of `spec`."""
    kwargs: dict[str, Any] = {}
    if spec.name:
        kwargs["node_name"] = spec.name
    if spec.namespace:
        kwargs["namespace"] = "/" + spec.namespace.strip("/")
    if spec.params:
        kwargs["parameter_overrides"] = [
            Parameter(p.name, value=list(p.value) if isinstance(p.value, tuple) else p.value)
            for p in spec.params]
    cli_args = [arg for r in spec.remaps for arg in ("-r", f"{r.source}:={r.target}")]
    cli_args += list(spec.ros_args)
    if cli_args:
        kwargs["cli_args"] = ["--ros-args", *cli_args]
    return kwargs


def run(description: LaunchDescription) -> int:
    """Instantiate every node, spin until SIGINT/SIGTERM, close and destroy them; exit code."""
    for spec in description.nodes:
        if spec.respawn or spec.args:
            _LOGGER.warning("[%s] respawn and args do not apply with --single-process", spec.label)
    quiet_stop_during_start()
    dds_env.apply()  # localhost-only discovery before the participant exists
    rclpy.init(args=[])  # rclpy's handlers turn SIGINT/SIGTERM into an external shutdown
    nodes: list[Node] = []
    own_executors: list[tuple[Executor, threading.Thread]] = []
    failed: list[str] = []      # labels of nodes whose own executor raised
    code = 0
    try:
        # Pooled: composed nodes must not wait on each other's callbacks.
        executor = PooledExecutor()
        for spec in description.nodes:
            node = node_class(spec.executable)(**node_kwargs(spec))
            nodes.append(node)
            if needs_own_executor(node):
                own = executor_for([node])
                own.add_node(node)
                thread = threading.Thread(target=_spin, args=(own, spec.label, failed,
                                                              cpu_nice(node)),
                                          name=f"executor-{spec.label}", daemon=True)
                thread.start()
                own_executors.append((own, thread))
                _LOGGER.info("[%s] composed as %s, on an executor of its own", spec.label,
                             node.get_fully_qualified_name())
                continue
            executor.add_node(node)
            _LOGGER.info("[%s] composed as %s", spec.label, node.get_fully_qualified_name())
        # The session weighs as its most urgent node against other sessions (ros/priority.py);
        # within it, each node's own nice value.
        urgent = min((cpu_nice(node) for node in nodes), default=0)
        refused = raise_session_priority(urgent) if urgent else ""
        if refused:
            _LOGGER.warning("composed stack: %s", refused)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # a node failed to construct or a callback raised: stop the lot, say why
        if rclpy.ok():
            _LOGGER.exception("composed stack failed")
            code = 1
        # else a stop signal shut the context down under a constructor: a stop, not a failure
    finally:
        for own, thread in own_executors:   # no callback of theirs runs while nodes close
            own.shutdown(timeout_sec=5)
            thread.join(timeout=5)
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            try:
                if callable(close):
                    close()  # devices made safe before the node goes
            except Exception:
                _LOGGER.exception("closing %s failed", node.get_name())
        end_ros(reversed(nodes))  # within a deadline: Fast DDS can spin in it (ros/teardown.py)
    return 1 if failed else code


def _spin(executor: Executor, label: str, failed: list[str], nice: int = 0) -> None:
    """A node's own executor; it ends with the context (SIGINT/SIGTERM, rclpy's handlers).
    `nice`: the node's CPU_NICE for this thread (the process's DDS threads are shared)."""
    refused = raise_priority(nice) if nice else ""
    if refused:
        _LOGGER.warning("[%s] executor at %s", label, refused)
    try:
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            _LOGGER.exception("[%s] its executor failed: stopping the composed stack", label)
            failed.append(label)
            rclpy.try_shutdown()
