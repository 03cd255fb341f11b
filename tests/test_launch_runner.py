"""The launcher with real node processes: prefixed output, real rclpy across processes, respawn,
required nodes, shutdown by SIGINT/SIGTERM/SIGKILL with no orphans, and --single-process."""
from __future__ import annotations

import re
import shutil
import signal
import time

import psutil
import pytest

from tests.fixtures.launch import alive

pytestmark = pytest.mark.timeout(180)


def test_processes_talk_and_stop_on_sigint(launch_stack) -> None:
    stack = launch_stack("talker_listener.launch.yaml")
    stack.wait_for(r"^\[talker\] .*Publishing: 'Hello World")
    stack.wait_for(r"^\[listener\] .*I heard: \[Hello World")  # chatter crossed processes
    nodes = stack.children()
    assert len(nodes) == 2 and stack.process.pid not in nodes
    stack.send(signal.SIGINT)
    assert stack.wait() == 0
    assert stack.survivors() == []


def test_sigterm_to_the_launcher_leaves_no_orphans(launch_stack) -> None:
    stack = launch_stack("talker_listener.launch.yaml")
    stack.wait_for(r"^\[listener\] .*I heard")
    assert len(stack.children()) == 2
    stack.send(signal.SIGTERM)
    assert stack.wait() == 0
    assert stack.survivors() == []


@pytest.mark.parametrize("after_s", [0.0, 0.4, 0.8, 1.2, 1.6, 2.4])
def test_sigterm_while_the_nodes_start_is_quiet(launch_stack, after_s: float) -> None:
    """Whatever the moment (the nodes still start Python, import rclpy, or construct): SIGTERM
    ends them without a KeyboardInterrupt or invalid-context traceback. The delay picks the
    moment of the stop; the outcome must not depend on it, so nothing waits on it."""
    stack = launch_stack("talker_listener.launch.yaml")
    stack.wait_for(r"\[listener\] started pid")
    stack.children()
    time.sleep(after_s)
    stack.children()
    stack.send(signal.SIGTERM)
    assert stack.wait() == 0
    assert not any("Traceback" in line for line in stack.lines), "\n".join(stack.lines)
    assert stack.survivors() == []


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="parent-death signal needs setpriv")
def test_sigkill_to_the_launcher_still_leaves_no_orphans(launch_stack) -> None:
    stack = launch_stack("talker_listener.launch.yaml")
    stack.wait_for(r"^\[listener\] .*I heard")
    nodes = stack.children()
    assert len(nodes) == 2
    stack.send(signal.SIGKILL)
    stack.wait()
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.survivors() == []


def test_crashing_node_is_respawned_up_to_the_cap(launch_stack) -> None:
    stack = launch_stack("respawn.launch.yaml")
    stack.wait_for(r"\[talker\] exited with code 3; respawn 1 in 0.5 s")
    stack.wait_for(r"\[talker\] started pid", count=2)
    stack.wait_for(r"\[talker\] exited with code 3; respawn 2 in 0.5 s")
    stack.wait_for(r"\[talker\] exited with code 3; gave up after 2 respawns")
    assert stack.process.poll() is None  # the talker is not required: the launch goes on
    stack.children()
    stack.send(signal.SIGINT)
    assert stack.wait() == 0
    assert stack.survivors() == []


def test_required_node_death_ends_the_launch_non_zero(launch_stack) -> None:
    stack = launch_stack("required.launch.yaml")
    # The pids from the launcher's own lines, not a snapshot of its children: the talker crashes
    # 1 s after start, which under load can come before a snapshot (or the listener's first message).
    for name in ("talker", "listener"):
        stack.wait_for(rf"^\[launch\] \[{name}\] started pid \d+")
    stack.seen_pids.update(int(m.group(1)) for line in stack.lines
                           if (m := re.search(r"^\[launch\] \[\w+\] started pid (\d+)", line)))
    assert len(stack.seen_pids) == 2
    assert stack.wait(timeout=120) == 1  # no signal from us: the launcher stops by itself
    stack.wait_for(r"\[talker\] exited with code 3; required node, shutting down")
    assert stack.survivors() == []


def test_single_process_composes_both_nodes_in_one_pid(launch_stack) -> None:
    stack = launch_stack("talker_listener.launch.yaml", "--single-process")
    stack.wait_for(r"\.listener\]: I heard: \[Hello World")
    assert stack.children() == []  # no node processes: both run in the launcher's pid
    assert psutil.Process(stack.process.pid).is_running()
    stack.send(signal.SIGINT)
    assert stack.wait() == 0


def test_compose_keeps_a_respawning_node_in_a_process_of_its_own(launch_stack) -> None:
    """--compose (the dog's default): the talker respawns, so it keeps its own process and is
    restarted when killed; the listener runs composed in one child process, which stays, and
    hears the restarted talker across the two processes."""
    stack = launch_stack("compose.launch.yaml", "--compose")
    heard = r"^\[composed\] .*I heard: \[Hello World"
    stack.wait_for(heard)
    pids = {pid: " ".join(psutil.Process(pid).cmdline()) for pid in stack.children()}
    composed = [pid for pid, line in pids.items() if "--without-respawning" in line]
    talker = [pid for pid, line in pids.items() if "talker_node" in line]
    assert len(composed) == 1 and len(talker) == 1 and len(pids) == 2, pids
    psutil.Process(talker[0]).kill()
    stack.wait_for(r"\[talker\] killed by SIGKILL; respawn 1")
    before = len([line for line in stack.lines if re.search(heard, line)])
    stack.wait_for(r"^\[launch\] \[talker\] started pid", count=2)
    stack.wait_for(heard, count=before + 3)          # the new talker, heard by the same process
    assert psutil.Process(composed[0]).is_running() and composed[0] in stack.children()
    stack.send(signal.SIGINT)
    assert stack.wait() == 0
    assert stack.survivors() == []


def test_composed_node_gets_the_same_names_params_and_remaps() -> None:
    from robot_dog.launch.compose import node_class, node_kwargs
    from robot_dog.launch.description import parse

    spec = parse("launch:\n- node:\n    pkg: robot_dog\n    exec: talker_node\n    name: t\n"
                 "    namespace: dog1\n    param: [{name: rate_hz, value: 4.0}, {name: v, value: [1, 2]}]\n"
                 "    remap: [{from: chatter, to: chat}]\n", "x.yaml").nodes[0]
    kwargs = node_kwargs(spec)
    assert (kwargs["node_name"], kwargs["namespace"]) == ("t", "/dog1")
    assert [(p.name, p.value) for p in kwargs["parameter_overrides"]] == [("rate_hz", 4.0), ("v", [1, 2])]
    assert kwargs["cli_args"] == ["--ros-args", "-r", "chatter:=chat"]
    assert node_class("talker_node").__name__ == "TalkerNode"


def test_a_stop_before_the_nodes_start_starts_none_of_them(tmp_path) -> None:
    """A stop that arrives while the launcher is still starting its nodes starts no more of them
    (each started one would only import rclpy to be stopped again, on a 2-core machine)."""
    import io

    from robot_dog.launch.description import parse
    from robot_dog.launch.runner import Supervisor

    description = parse("launch:\n" + "".join(
        f"- node:\n    pkg: robot_dog\n    exec: talker_node\n    name: t{i}\n" for i in range(3)),
        "x.yaml")
    supervisor = Supervisor(description, shutdown_timeout_s=5, out=io.StringIO(), err=io.StringIO())
    supervisor.request_shutdown()
    assert supervisor.run() == 0
    assert supervisor.pids() == []
