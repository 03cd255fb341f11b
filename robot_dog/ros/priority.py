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

With autogroups on (`kernel.sched_autogroup_enabled`, the default of desktop kernels and of this
project's machines), the kernel first shares the CPU equally among sessions and weighs a thread's
nice value only against threads of its own session: safety_node at nice -10 in a session of its
own then bought nothing against CPU hogs and test runs in other sessions (measured: its tick
queued 0.75 s for a CPU, `bench safety`). What weighs against other sessions is the session's own
nice value (/proc/self/autogroup), set here too when the process leads its session (the launcher
and the tests start every node in one of its own); in a terminal's session it would raise the
shell and everything started from it, so there it is left alone and the caller logs why.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

#: Nodes and threads whose deadlines are safety promises (safety_node, payload_node) or whose
#: lateness is heard (the megaphone's speaker thread).
HIGH_PRIORITY_NICE = -10
AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")


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
    main thread's), and `raise_session_priority`. "" when done, else why not."""
    for task in Path("/proc/self/task").iterdir():
        refused = raise_priority(nice, int(task.name))
        if refused:
            return refused
    return raise_session_priority(nice)


def raise_session_priority(nice: int = HIGH_PRIORITY_NICE, autogroups: Path = AUTOGROUPS,
                           autogroup: Path = Path("/proc/self/autogroup")) -> str:
    """The session's nice value (its autogroup's) to `nice`, when the kernel shares the CPU by
    session and this process leads its own. "" when done or not needed, else why not."""
    try:
        if autogroups.read_text().strip() != "1":
            return ""       # no autogroups: the threads' nice values weigh machine-wide
    except OSError:
        return ""
    if os.getsid(0) != os.getpid():
        return (f"nice {nice} weighs only within this session (autogroups on; not its leader: "
                f"started from a terminal?); other sessions' load can delay it")
    try:
        autogroup.write_text(str(nice))
    except OSError as exc:
        return f"session at normal priority (nice {nice} refused: {exc}); other sessions' load can delay it"
    return ""
