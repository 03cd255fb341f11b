"""Where a process's threads spend the wall clock, from Linux's /proc/PID/task/TID/schedstat: on
a CPU (run), runnable but waiting for a CPU (wait: the machine is busier than its cores), or
neither (asleep: waiting for input, a lock, the GIL, a disk). A thread at 40 % run and 60 %
wait wants a whole core and is not given it; one at 40 % run and 60 % asleep waits for
something else. Figures are % of the wall clock between two samples.

Thread names come from /proc (`comm`): Python threads keep the process's name there, so a
benchmark tells them apart by their share (py-spy names them, docs/BENCHMARKS.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ThreadShare:
    tid: int
    run_pct: float
    wait_pct: float

    @property
    def asleep_pct(self) -> float:
        return max(0.0, 100.0 - self.run_pct - self.wait_pct)


def sample(pid: int) -> dict[int, tuple[int, int]]:
    """tid -> (ns on a CPU, ns runnable and waiting for one), both since the thread started."""
    out: dict[int, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            run_ns, wait_ns, _ = (int(v) for v in (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue  # the thread ended between the listing and the read
        out[int(task.name)] = (run_ns, wait_ns)
    return out


def shares(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]],
           seconds: float) -> list[ThreadShare]:
    """Each thread's run and wait share between two samples, the busiest first."""
    found = []
    for tid, (run_ns, wait_ns) in after.items():
        run0, wait0 = before.get(tid, (0, 0))
        found.append(ThreadShare(tid, round(100.0 * (run_ns - run0) / 1e9 / seconds, 1),
                                 round(100.0 * (wait_ns - wait0) / 1e9 / seconds, 1)))
    return sorted(found, key=lambda s: -(s.run_pct + s.wait_pct))


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds, all CPU seconds) of the whole machine so far: the share of both
    cores that anything used between two readings."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total
