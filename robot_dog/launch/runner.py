"""Process supervisor: one child process per node, prefixed output, respawn, orderly shutdown.

The thin shell around `policy`: it starts the console scripts, watches them, and applies the
decisions. Every child runs in a session of its own, so in its own process group (a terminal's
Ctrl-C reaches only the launcher, which then stops the nodes in order, and a node's own helpers
die with it) and its own autogroup (a node's CPU priority weighs against other sessions:
ros/priority.py) and, where
`setpriv` exists, with a parent-death signal, so even a SIGKILLed launcher leaves no orphans.
With `--compose` the nodes that respawn keep a process each and the others share one child
process, composed (`compose.py`), supervised like a node under the label `composed`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from robot_dog.ros import dds_env
from robot_dog.cli import stopping
from robot_dog.launch import policy
from robot_dog.launch.description import LaunchDescription, NodeSpec
from robot_dog.ros.node_registry import NODES

_LOGGER = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT_S = 5.0
#: The label of the one process that holds the composed nodes (`--compose`).
COMPOSED = "composed"
_POLL_S = 0.05


def node_command(spec: NodeSpec) -> list[str]:
    """The console script for `spec` (next to this interpreter, else on PATH, else `python -c`)."""
    script = Path(sys.executable).parent / spec.executable
    if script.is_file() and os.access(script, os.X_OK):
        head = [str(script)]
    elif found := shutil.which(spec.executable):
        head = [found]
    else:  # the editable install has not caught up with node_registry yet: run main() directly
        module = NODES[spec.executable].split(":")[0]
        head = [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]
    return head + policy.ros_arguments(spec)


def child_environ() -> dict[str, str]:
    """Localhost-only DDS plus line-buffered, uncoloured output (we read it through pipes)."""
    env = dds_env.environ()
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return env


@dataclass
class _Child:
    spec: NodeSpec
    label: str
    popen: subprocess.Popen[bytes] | None = None
    respawns: int = 0
    crash_streak: int = 0          # exits in a row after a short run (respawn back-off)
    started_at: float = 0.0
    restart_at: float | None = None
    last_code: int | None = None
    readers: list[threading.Thread] = field(default_factory=list)
    command: list[str] | None = None   # None: the node's own console script


class Supervisor:
    """Runs a LaunchDescription until the nodes are done, a required one dies, or a signal."""

    def __init__(self, description: LaunchDescription,
                 shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S,
                 out: IO[str] | None = None, err: IO[str] | None = None,
                 compose_argv: Sequence[str] | None = None) -> None:
        """`compose_argv` (the launch file and its NAME:=VALUE arguments): `--compose`, the
        nodes that respawn each in a process of their own, every other node in one composed
        process."""
        self.description = description
        self.shutdown_timeout_s = shutdown_timeout_s
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._escalate = threading.Event()
        self._requested = False
        self._required_died = False
        self._env = child_environ()
        # KILL, not TERM: this only fires when the launcher itself was killed outright, and then
        # nobody is left to escalate if a node hangs in its shutdown (seen once under load). Nodes
        # are safe to kill by design: the MCU falls safe on heartbeat loss, MQTT has a Last Will.
        self._pdeathsig = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        self.children = [_Child(spec, label) for spec, label in
                         zip(description.nodes, policy.labels(description.nodes))
                         if compose_argv is None or spec.respawn]
        composed = [spec for spec in description.nodes if not spec.respawn]
        if compose_argv is not None and composed:
            # One child for every node that does not respawn: this launch file again, composed
            # (`--single-process --without-respawning`); it stops with the others.
            spec = dataclasses.replace(composed[0], name=COMPOSED, respawn=False, args=(),
                                       required=any(s.required for s in composed))
            self.children.append(_Child(spec, COMPOSED, command=[
                sys.executable, "-m", "robot_dog.launch", *compose_argv, "--single-process",
                "--without-respawning"]))

    # -- public -------------------------------------------------------------------------------
    def run(self) -> int:
        """Start every node, supervise, stop them all; return the launcher's exit code."""
        restore = self._install_signal_handlers()
        try:
            for child in self.children:
                if self._stop.is_set():  # a stop during start-up: start nothing more
                    break
                self._start(child)
            self._supervise()
        finally:
            self._stop_all()
            restore()
            for child in self.children:
                for reader in child.readers:
                    reader.join(timeout=2.0)
        return policy.final_exit_code(self._requested, self._required_died,
                                      [c.last_code for c in self.children])

    def request_shutdown(self) -> None:
        """Begin the orderly stop (thread- and signal-safe); a second call skips a waiting stage."""
        if self._stop.is_set():
            self._escalate.set()
        self._requested = True
        self._stop.set()

    def pids(self) -> list[int]:
        return [c.popen.pid for c in self.children if c.popen is not None]

    # -- shell --------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in old:
            signal.signal(sig, self._on_signal)
        return lambda: [signal.signal(sig, handler) for sig, handler in old.items()]

    def _on_signal(self, signum: int, frame: object) -> None:
        stopping.note(signum)
        self.request_shutdown()

    def _start(self, child: _Child) -> None:
        command = child.command or node_command(child.spec)
        child.started_at = time.monotonic()
        try:
            child.popen = subprocess.Popen(
                self._pdeathsig + command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self._env, start_new_session=True, close_fds=True)
        except OSError as exc:
            _LOGGER.error("[%s] cannot start %s: %s", child.label, command[0], exc)
            child.popen = None
            self._after_exit(child, 127)
            return
        _LOGGER.info("[%s] started pid %d: %s", child.label, child.popen.pid, " ".join(command))
        child.readers = [self._forward(child.label, child.popen.stdout, self._out),
                         self._forward(child.label, child.popen.stderr, self._err)]

    def _forward(self, label: str, pipe: IO[bytes] | None, sink: IO[str]) -> threading.Thread:
        def pump() -> None:
            assert pipe is not None
            with pipe:
                for raw in iter(pipe.readline, b""):
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    with self._write_lock:
                        try:
                            sink.write(f"[{label}] {line}\n")
                            sink.flush()
                        except (OSError, ValueError):
                            pass  # our own output is gone (closed pipe); keep draining the child
        thread = threading.Thread(target=pump, name=f"launch-out-{label}", daemon=True)
        thread.start()
        return thread

    def _reap(self, child: _Child) -> int | None:
        """Return the exit code if the child's process has ended (then clear up its group)."""
        if child.popen is None:
            return None
        code = child.popen.poll()
        if code is None:
            return None
        try:  # helpers a node left behind in its group go with it
            os.killpg(child.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        child.popen = None
        child.last_code = code
        return code

    def _running(self, child: _Child) -> bool:
        self._reap(child)
        return child.popen is not None

    def _after_exit(self, child: _Child, code: int) -> None:
        child.last_code = code
        ran_s = time.monotonic() - child.started_at
        child.crash_streak = 0 if ran_s >= policy.BACKOFF_RESET_S else child.crash_streak
        decision = policy.on_exit(child.spec, code, child.respawns, child.crash_streak)
        child.crash_streak += 1
        log = _LOGGER.warning if decision.action is policy.Action.RESPAWN or code == 0 else _LOGGER.error
        log("[%s] %s", child.label, decision.reason)
        if decision.action is policy.Action.RESPAWN:
            child.restart_at = time.monotonic() + decision.delay_s
        elif decision.action is policy.Action.SHUTDOWN:
            self._required_died = True
            self._stop.set()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            for child in self.children:
                code = self._reap(child)
                if code is not None:
                    self._after_exit(child, code)
                elif (child.popen is None and child.restart_at is not None
                      and time.monotonic() >= child.restart_at and not self._stop.is_set()):
                    child.restart_at = None
                    child.respawns += 1
                    self._start(child)
            if all(c.popen is None and c.restart_at is None for c in self.children):
                _LOGGER.info("all nodes have exited")
                return
            self._stop.wait(_POLL_S)

    def _stop_all(self) -> None:
        """SIGTERM every process group, wait; then SIGKILL (policy.SHUTDOWN_SEQUENCE)."""
        for child in self.children:
            child.restart_at = None
        for sig in policy.SHUTDOWN_SEQUENCE:
            alive = [c for c in self.children if self._running(c)]
            if not alive:
                return
            _LOGGER.info("sending %s to %s", sig.name, ", ".join(c.label for c in alive))
            for child in alive:
                try:
                    os.killpg(child.popen.pid, sig)  # type: ignore[union-attr]
                except (ProcessLookupError, PermissionError):
                    pass
            self._escalate.clear()
            sent = time.monotonic()
            deadline = sent + self.shutdown_timeout_s
            while time.monotonic() < deadline and not self._escalate.is_set():
                still = [c for c in alive if self._running(c)]
                for child in alive:
                    if child not in still:   # which node makes a stop slow
                        _LOGGER.info("%s stopped %.2f s after %s", child.label,
                                     time.monotonic() - sent, sig.name)
                alive = still
                if not alive:
                    return
                time.sleep(_POLL_S)
        for child in self.children:  # after SIGKILL: wait until the kernel has them
            if child.popen is not None:
                child.popen.wait(timeout=self.shutdown_timeout_s)
                self._reap(child)
