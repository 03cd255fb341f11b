"""How quickly and quietly `robot-dog demo` stops on SIGTERM at moments of its start-up.

For each moment (marked by a line of the demo's output) the demo is started REPEATS times and
sent SIGTERM right after the line appears; the figure is the time from the signal to the
demo's exit (it waits for the launcher, its nodes, the virtual MCU, the station and the broker),
plus the tracebacks in its output and the processes left afterwards. Goal: under 2 s, no
traceback, nothing left; a stop that misses it prints the demo's output from the signal on.
ROBOT_DOG_BENCH_MOMENTS=viewer_up,streaming runs only those moments.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

from robot_dog.ros import dds_env
from robot_dog.cli import ports

REPEATS = 3
GOAL_S = 2.0
MOMENTS = {
    "broker_up": "mosquitto listening on",
    "viewer_up": "  viewer:  http://127.0.0.1:",
    "nodes_starting": "[payload] started pid",
    "streaming": "first frame from dog1/bodycam",
}


def _stop_once(marker: str) -> tuple[float, int, int]:
    """(seconds from SIGTERM to exit, tracebacks, processes left)."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-stop-") as var:
        proc = subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "demo", "--broker-port", "0", "--http-port", "0", "--handheld-port", "0",
             "--var", var], env=dds_env.environ(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines: list[str] = []
        seen: dict[int, psutil.Process] = {}
        marked = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if marker in line:
                    marked.set()
            marked.set()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        root = psutil.Process(proc.pid)
        while not marked.wait(0.02):
            try:
                seen.update((c.pid, c) for c in root.children(recursive=True))
            except psutil.NoSuchProcess:
                break
        seen.update((c.pid, c) for c in root.children(recursive=True))
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        took = time.monotonic() - started
        reader.join(timeout=10)
        left = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        output = "".join(lines)
        # faulthandler's dump of a hung ROS teardown (ros/teardown.py) counts as one too
        tracebacks = output.count("Traceback") + output.count("most recent call first")
        if tracebacks or took > GOAL_S:  # what went wrong, for the next reader of the figures
            print(f"   --- stop at {marker!r} took {took:.2f} s, {tracebacks} traceback(s); "
                  f"the demo's output from the signal on:\n{_after_signal(lines, marker)}", flush=True)
        return took, tracebacks, len(left)


def _after_signal(lines: list[str], marker: str, tail: int = 80) -> str:
    """The demo's lines from its marker on (the signal came right after it), at most `tail`."""
    at = next((i for i, line in enumerate(lines) if marker in line), 0)
    return "".join(lines[at:][-tail:])


def run() -> dict[str, object]:
    assert ports.any_free_port()  # loopback works
    figures: dict[str, object] = {}
    worst = 0.0
    only = [m for m in os.environ.get("ROBOT_DOG_BENCH_MOMENTS", "").split(",") if m]
    for name, marker in MOMENTS.items():
        if only and name not in only:
            continue
        runs = [_stop_once(marker) for _ in range(REPEATS)]
        stop_s = [r[0] for r in runs]
        worst = max(worst, *stop_s)
        figures[f"{name}_stop_max_s"] = max(stop_s)
        figures[f"{name}_stop_median_s"] = sorted(stop_s)[len(stop_s) // 2]
        figures[f"{name}_tracebacks"] = sum(r[1] for r in runs)
        figures[f"{name}_processes_left"] = sum(r[2] for r in runs)
    figures["worst_stop_s"] = worst
    figures["goal_s"] = GOAL_S
    return figures
