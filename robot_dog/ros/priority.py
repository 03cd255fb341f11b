"""A larger share of the CPU for the threads whose timing is a promise (a nice value).

On a loaded computer the kernel's fair scheduler shares the CPU among every runnable thread:
`safety_node` (the watchdog, the endpoints' deadlines) then waited its turn behind builds and
encoders (measured on 2 cores at load average 8-54: its 50 Hz tick up to 1.55 s late; none at
load 2.5 with two CPU hogs). A nice value of -10 gives a thread about nine times the weight of
a normal one, so it runs as soon as it wakes. Not a real-time class: a thread that spun by
mistake would still leave the machine usable, and the Python nodes were not written for
SCHED_FIFO. Needs CAP_SYS_NICE (systemd: `AmbientCapabilities=CAP_SYS_NICE`); without it the
thread keeps its normal priority and the caller logs why.

Linux keeps the nice value per thread, and a new thread inherits its creator's: set for every
thread of the process before `rclpy.init` (imports already started some: numpy's pool), it
covers the node's executor and its DDS threads too.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

#: Nodes and threads whose deadlines are safety promises (safety_node, payload_node) or whose
#: lateness is heard (the megaphone's speaker thread).
HIGH_PRIORITY_NICE = -10


def cpu_nice(node: object) -> int:
    """The niceness a node (or its class) asks for: `CPU_NICE` on the class, 0 when it says
    nothing."""
    return int(getattr(node, "CPU_NICE", 0))


def raise_priority(nice: int = HIGH_PRIORITY_NICE, native_id: int | None = None) -> str:
    """Give a thread (`native_id`; the calling thread by default) the niceness `nice`.
    "" when done, else why not (for the caller's log)."""
    who = threading.get_native_id() if native_id is None else native_id
    try:
        os.setpriority(os.PRIO_PROCESS, who, nice)
    except ProcessLookupError:
        return ""           # the thread ended meanwhile
    except OSError as exc:
        return f"normal priority (nice {nice} refused: {exc}); a loaded CPU can delay it"
    return ""


def raise_process_priority(nice: int = HIGH_PRIORITY_NICE) -> str:
    """`raise_priority` for every thread the process has now (those it starts later inherit the
    main thread's). "" when done, else why not."""
    for task in Path("/proc/self/task").iterdir():
        refused = raise_priority(nice, int(task.name))
        if refused:
            return refused
    return ""
