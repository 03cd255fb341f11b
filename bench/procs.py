"""Stopping the processes a benchmark started: SIGTERM, a deadline, then SIGKILL, so a node that
hangs on its way out never leaves a broker or a station behind; the caller reports the hang."""
from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop(procs: Iterable[subprocess.Popen], timeout_s: float = 20.0) -> list[str]:
    """Terminate every process, wait up to `timeout_s` for each, kill those still running.
    Returns the command lines of the killed ones (empty when every process stopped on SIGTERM)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    killed = []
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            args = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
            killed.append(args)
    return killed
