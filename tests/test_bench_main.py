"""`python -m bench`: a benchmark stopped with SIGTERM runs its `finally` blocks (its stack and
hogs stopped, its partial results logged) instead of dying with its children orphaned."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # starts a process

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, time
from pathlib import Path
from bench.__main__ import stop_cleanly_on_sigterm
stop_cleanly_on_sigterm()
marker = Path(sys.argv[1])
try:
    marker.write_text("running")
    time.sleep(60)
finally:
    marker.write_text("cleaned up")
"""


def test_sigterm_runs_the_benchmarks_finally_blocks(tmp_path):
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text() == "running"):
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert marker.read_text() == "cleaned up"
    finally:
        proc.kill()
        proc.wait()
