"""robot_dog.cli.stopping: SIGTERM takes the Ctrl-C path once; a second signal does not cut the stop
short; a one-shot command cut short exits 128 + the signal."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

PROGRAM = """
import sys
from robot_dog.cli import stopping
stopping.install()
try:
    print("ready", flush=True)
    sys.stdin.readline()
except KeyboardInterrupt:
    print("stopping after", stopping.received().name, flush=True)
    sys.stdin.readline()          # the stop in progress: the test signals again meanwhile
    print("stopped cleanly", flush=True)
    sys.exit(stopping.interrupted_exit_code())
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_first_signal_interrupts_a_second_does_not(sig: signal.Signals, code: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as a background job of a script: SIGINT inherited as ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    assert proc.stdout.readline() == f"stopping after {sig.name}\n"
    proc.send_signal(sig)
    assert proc.stderr.readline() == f"({sig.name}: already stopping)\n"
    out, err = proc.communicate("done\n", timeout=30)
    assert out == "stopped cleanly\n" and "Traceback" not in err
    assert proc.returncode == code


DEFERRING = """
import sys
from robot_dog.cli import stopping
stopping.install()
try:
    with stopping.deferred():
        print("holding", flush=True)
        sys.stdin.readline()        # the test signals here, then lets us go on
        print("block finished", flush=True)
    print("not reached", flush=True)
except KeyboardInterrupt:
    print("interrupted after the block", flush=True)
"""


@pytest.mark.slow
def test_deferred_holds_the_stop_until_the_block_ends() -> None:
    proc = subprocess.Popen([sys.executable, "-c", DEFERRING], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "holding\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate("go\n", timeout=30)
    assert out == "block finished\ninterrupted after the block\n", err
    assert proc.returncode == 0
