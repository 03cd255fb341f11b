"""Ending a process's ROS side within a deadline.

Fast DDS can spin forever while it deletes a participant: `DomainParticipantImpl::set_listener`
waits for a discovery callback in flight with an infinite `wait_until` that busy-loops
(eProsima/Fast-DDS#6513), and rclpy calls it holding the GIL. Seen here: `robot-dog teleop pair`
got its answer, then burned a core in `Node.destroy_node` until the caller killed it 120 s later,
before it had printed the code. So every process that tears down ROS does it under a watchdog:
faulthandler's own C thread (it needs no GIL) dumps the Python stacks to stderr and ends the
process with exit status 1 if the teardown outlives the deadline. Anything the process has to
say is printed and flushed before the teardown starts.
"""
from __future__ import annotations

import faulthandler
import sys
from collections.abc import Iterable

import rclpy
from rclpy.node import Node

#: A node process's whole teardown (DDS participant included) takes about 0.3 s here.
TEARDOWN_DEADLINE_S = 3.0


def end_ros(nodes: Iterable[Node | None] = (), deadline_s: float = TEARDOWN_DEADLINE_S) -> None:
    """Destroy `nodes` and shut rclpy down; a teardown that hangs ends the process (status 1)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()   # the watchdog's exit skips Python's buffers
        except (OSError, ValueError):
            pass
    faulthandler.dump_traceback_later(deadline_s, exit=True)
    try:
        for node in nodes:
            if node is not None:
                node.destroy_node()
        rclpy.try_shutdown()
    finally:
        faulthandler.cancel_dump_traceback_later()
