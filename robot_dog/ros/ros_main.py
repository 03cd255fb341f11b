"""The one `main()` of every node: init, spin, clean exit on Ctrl-C or external shutdown.

A stop can come at any moment of start-up (the launcher sends SIGTERM to every node): before
`rclpy.init` the default action ends the process silently; after it, rclpy's handlers shut the
context down, and a node still being constructed then fails on the invalid context. That
failure is the stop, not an error: no traceback, exit 0.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from robot_dog.ros import dds_env
from robot_dog.ros.executors import executor_for, spin_until_shutdown
from robot_dog.ros.priority import cpu_nice, raise_process_priority
from robot_dog.ros.teardown import end_ros

_LOGGER = logging.getLogger(__name__)


def quiet_stop_during_start() -> None:
    """rclpy warns once when a node is constructed on a context a stop just shut down, an
    executor whose constructor the stop interrupted complains from its `__del__` (measured:
    AttributeError '_sigint_gc' under load), and a node's thread that publishes during the stop
    fails (RCLError: context invalid). All are the stop, not errors: after shutdown they are
    dropped; before it they are reported as usual."""
    warnings.filterwarnings("ignore", message="Failed to fini rosout publisher", category=RuntimeWarning)
    default_hook = sys.unraisablehook

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        if rclpy.ok():
            default_hook(unraisable)
    sys.unraisablehook = hook
    # A node's own thread (microphone reader, simulator runner) that publishes while a stop
    # shuts the context down fails on the invalid context: that is the stop too. Before the
    # shutdown a thread's error is reported as usual.
    default_thread_hook = threading.excepthook

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if rclpy.ok():
            default_thread_hook(args)
    threading.excepthook = thread_hook


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None,
             publish_on_exit: bool = False) -> int:
    """Create the node from `factory`, spin it until shutdown, return a process exit code.

    `publish_on_exit`: SIGINT/SIGTERM raise KeyboardInterrupt instead of rclpy shutting the
    context down first, so `close()` can still publish (a teleop's zero on exit). The node
    needs a timer: the interrupt is seen when the executor next wakes.
    """
    quiet_stop_during_start()
    # Localhost-only discovery before the participant exists; the large shared-memory segment
    # only for a node that publishes images (PUBLISHES_IMAGES on its class).
    dds_env.apply(large_samples=bool(getattr(factory, "PUBLISHES_IMAGES", False)))
    # Before rclpy.init: the executor's and DDS's threads inherit it (ros/priority.py).
    nice = cpu_nice(factory)
    refused = raise_process_priority(nice) if nice else ""
    options = SignalHandlerOptions.NO if publish_on_exit else SignalHandlerOptions.ALL
    rclpy.init(args=list(args) if args is not None else sys.argv, signal_handler_options=options)
    if publish_on_exit:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    node: Node | None = None
    try:
        node = factory()
        if refused:
            node.get_logger().warning(refused)
        executor = executor_for([node])  # the node's own choice (ros/executors.py)
        executor.add_node(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a real failure: the traceback says where
        # the context was shut down under the constructor or spin: a stop, not a failure
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()  # nodes that own devices make them safe here
        end_ros([node])  # within a deadline: Fast DDS can spin in it (ros/teardown.py)
    return 0
