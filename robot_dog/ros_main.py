"""The one `main()` of every node: init, spin, clean exit on Ctrl-C or external shutdown."""
from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Sequence

import robot_dog  # noqa: F401  (forces localhost-only discovery before rclpy.init)
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

_LOGGER = logging.getLogger(__name__)


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None,
             publish_on_exit: bool = False) -> int:
    """Create the node from `factory`, spin it until shutdown, return a process exit code.

    `publish_on_exit`: SIGINT/SIGTERM raise KeyboardInterrupt instead of rclpy shutting the
    context down first, so `close()` can still publish (a teleop's zero on exit). The node
    needs a timer: the interrupt is seen when the executor next wakes.
    """
    options = SignalHandlerOptions.NO if publish_on_exit else SignalHandlerOptions.ALL
    rclpy.init(args=list(args) if args is not None else sys.argv, signal_handler_options=options)
    if publish_on_exit:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    node: Node | None = None
    try:
        node = factory()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()  # nodes that own devices make them safe here
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
