"""How a command stops: SIGTERM takes the same path as Ctrl-C.

systemd, `docker stop` and CI timeouts send SIGTERM, a terminal sends SIGINT; both must run the
same clean stop (children stopped in order, storage flushed, the payload made safe). `install()`
turns the first of either into KeyboardInterrupt in the main thread, which every command already
handles; later ones are only noted, so a stop in progress is not cut short half-way (its own
waits have timeouts).

Exit codes: a long-running service (demo, station, launcher) ends normally by a signal and exits
0 after a clean stop, which systemd counts as success without `SuccessExitStatus=`; a one-shot
command cut short exits 128 + the signal number (130 SIGINT, 143 SIGTERM), the shell convention.
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

_received: signal.Signals | None = None
_deferring = 0          # depth of deferred() blocks in the main thread
_pending = False        # a stop arrived inside one: raise when the outermost ends


def install() -> None:
    """SIGINT/SIGTERM -> KeyboardInterrupt, once (main thread only; elsewhere a no-op).

    Also undoes an inherited SIG_IGN for SIGINT: a background job of a non-interactive shell
    starts with SIGINT ignored, and would otherwise pass that on to every child.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received, _pending
    if _received is not None:
        print(f"({signal.Signals(signum).name}: already stopping)", file=sys.stderr, flush=True)
        return
    _received = signal.Signals(signum)
    if _deferring:
        _pending = True
        return
    raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop until the block ends. For starting a child process: interrupted inside
    Popen (while it waits for the exec), the child runs on but its Popen object is lost, so
    nobody would stop it. With the stop held, the caller has the object when it is raised."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            _pending = False
            raise KeyboardInterrupt


def note(signum: int) -> None:
    """Record a stop signal handled elsewhere (the launcher's own handlers)."""
    global _received
    if _received is None:
        _received = signal.Signals(signum)


def received() -> signal.Signals | None:
    """The stop signal this process got, or None (Ctrl-C typed into a plain `python` is SIGINT)."""
    return _received


def interrupted_exit_code() -> int:
    """A one-shot command's exit code after KeyboardInterrupt: 128 + signal (130 without one)."""
    return 128 + (_received or signal.SIGINT)


def reset() -> None:
    """Forget the signal (tests that run several commands in one process)."""
    global _received, _pending
    _received, _pending = None, False
