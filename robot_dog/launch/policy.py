"""What the supervisor does, as pure functions: command lines, respawn/required decisions, exit code.

Policy (docs/launch.md):
- a node that exits while the launcher is running is restarted after `respawn_delay` s when
  `respawn: "true"`, at most `respawn_max_retries` times (-1: forever); a node respawned forever
  backs off: the delay doubles with each crash in a row, up to BACKOFF_MAX_S, and the streak
  ends once the node has run BACKOFF_RESET_S;
- a node that exits and will not be restarted ends the whole launch when it is required
  (`on_exit: shutdown`); the launcher then exits 1;
- otherwise the launcher carries on while anything runs or waits to respawn, and finally exits
  0 when every node's last exit code was 0, else 1;
- a shutdown the user asked for (SIGINT/SIGTERM to the launcher) exits 0.
"""
from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from robot_dog.launch.description import NodeSpec, format_param_value

#: Longest respawn delay of a node respawned forever, s (its first delay is respawn_delay).
BACKOFF_MAX_S = 30.0
#: A node that ran this long before it exited starts a new crash streak (first delay again), s.
BACKOFF_RESET_S = 60.0

#: Signals sent to each node's process group on shutdown, in order; each gets the timeout.
#: SIGTERM, not SIGINT, first: a node still importing ends silently by its default action (SIGINT
#: would print a KeyboardInterrupt traceback), one past rclpy.init stops cleanly through rclpy's
#: handler just as on SIGINT, and SIGINT may be ignored altogether (inherited SIG_IGN).
SHUTDOWN_SEQUENCE: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGKILL)


def ros_arguments(spec: NodeSpec) -> list[str]:
    """argv after the executable: `ARGS... --ros-args -r __node:=N -r __ns:=/NS -p k:=v -r a:=b`."""
    out = list(spec.args) + ["--ros-args"]
    if spec.name:
        out += ["-r", f"__node:={spec.name}"]
    if spec.namespace:
        out += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for param in spec.params:
        out += ["-p", f"{param.name}:={format_param_value(param.value)}"]
    for remap in spec.remaps:
        out += ["-r", f"{remap.source}:={remap.target}"]
    return out + list(spec.ros_args)


def labels(specs: tuple[NodeSpec, ...]) -> list[str]:
    """Log prefixes: the node name, qualified by namespace (then numbered) where names clash."""
    plain = [s.label for s in specs]
    out = [label if plain.count(label) == 1 else f"{(s.namespace or '').strip('/')}/{label}".lstrip("/")
           for s, label in zip(specs, plain)]
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        if out.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            out[i] = f"{label}#{seen[label]}"
    return out


class Action(enum.Enum):
    RESPAWN = "respawn"        # start it again after `delay_s`
    GIVE_UP = "give_up"        # leave it dead; the rest carries on
    SHUTDOWN = "shutdown"      # a required node is gone: stop everything, exit non-zero


@dataclass(frozen=True)
class ExitDecision:
    action: Action
    delay_s: float = 0.0
    reason: str = ""


def on_exit(spec: NodeSpec, returncode: int, respawns_so_far: int,
            crash_streak: int = 0) -> ExitDecision:
    """Decide what happens after `spec`'s process exited on its own with `returncode`;
    `crash_streak`: exits in a row, each after less than BACKOFF_RESET_S of running."""
    how = describe_exit(returncode)
    if spec.respawn and (spec.respawn_max_retries < 0 or respawns_so_far < spec.respawn_max_retries):
        delay = spec.respawn_delay_s
        if spec.respawn_max_retries < 0:   # forever: back off, so a crash loop does not spin
            delay = min(delay * 2 ** min(crash_streak, 16), max(delay, BACKOFF_MAX_S))
        return ExitDecision(Action.RESPAWN, delay,
                            f"{how}; respawn {respawns_so_far + 1} in {delay:g} s")
    why = f"{how}; gave up after {respawns_so_far} respawns" if spec.respawn else how
    if spec.required:
        return ExitDecision(Action.SHUTDOWN, 0.0, f"{why}; required node, shutting down")
    return ExitDecision(Action.GIVE_UP, 0.0, why)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def final_exit_code(requested_shutdown: bool, required_died: bool, last_codes: list[int | None]) -> int:
    """The launcher's exit code (see the module docstring)."""
    if required_died:
        return 1
    if requested_shutdown:
        return 0
    return 0 if all(code in (0, None) for code in last_codes) else 1
