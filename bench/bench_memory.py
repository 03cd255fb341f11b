"""Resident memory of the dog stack: one process per node vs. composed in one process.

Launches launch/dog.launch.yaml (else a generated file with every importable registry node) with
`python -m robot_dog.launch`, lets it settle, sums RSS over each process tree with psutil, stops
it with SIGINT, then does the same with `--single-process` and with `--compose` (the dog's
default: payload_node, which respawns, in its own process; the others composed in one). A throwaway Mosquitto on a free
loopback port serves nodes that want a broker, and a virtual MCU on a pty (in this process, not
counted: it stands for the hardware) gives the payload node its serial link. RSS counts shared libraries once per process (the
per-process figure is what the OS must find); PSS splits them fairly and is given for reference,
with each node's largest shares by library (its smaps: robot_dog/devtools/memory_map.py).
Goals (docs/BENCHMARKS.md): composed <= 250 MB RSS; one process per node <= 600 MB in total.
"""
from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.util import find_spec
from pathlib import Path

import psutil

from robot_dog.devtools import memory_map
from robot_dog.ros import dds_env
from robot_dog.launch.description import load
from robot_dog.ros.node_registry import NODES

_LOGGER = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DOG_LAUNCH = REPO / "launch" / "dog.launch.yaml"
COMPOSED_GOAL_MB = 250.0
PER_PROCESS_GOAL_MB = 600.0
SETTLE_MIN_S = 6.0      # past imports, participant discovery and first frames
SETTLE_MAX_S = 60.0
_MB = 1024.0 * 1024.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _generated_launch_file(directory: Path) -> Path:
    """A launch file of every registry node whose module imports here (no dog.launch.yaml yet)."""
    lines = ["launch:"]
    for exe, target in NODES.items():
        if find_spec(target.split(":")[0]) is not None:
            lines += ["- node:", "    pkg: robot_dog", f"    exec: {exe}", f"    name: {exe.removesuffix('_node')}"]
    path = directory / "bench_stack.launch.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree_bytes(process: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) summed over a process and its descendants."""
    rss = pss = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            pss += getattr(proc.memory_full_info(), "pss", 0)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return rss, pss


def _node_label(proc: psutil.Process) -> str:
    try:
        match = re.search(r"__node:=(\w+)", " ".join(proc.cmdline()))
        return match.group(1) if match else proc.name()
    except psutil.NoSuchProcess:
        return "?"


def _by_library(proc: psutil.Process) -> str:
    """The process's largest shares by library (robot_dog.devtools.memory_map)."""
    try:
        return memory_map.summary(memory_map.of_process(proc.pid), top=8)
    except OSError as exc:  # gone, or not ours to read
        return f"unreadable ({exc})"


def _settled(launcher: psutil.Process, expected_children: int) -> None:
    """Wait until the expected node processes exist and total RSS stops growing (< 2 % in 2 s)."""
    started = time.monotonic()
    last = -1
    while time.monotonic() - started < SETTLE_MAX_S:
        time.sleep(2.0)
        if len(launcher.children()) < expected_children:
            continue
        now = _tree_bytes(launcher)[0]
        if time.monotonic() - started >= SETTLE_MIN_S and last > 0 and abs(now - last) < 0.02 * last:
            return
        last = now


def _launch(path: Path, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "robot_dog.launch", str(path), *args],
                                cwd=REPO, env=dds_env.environ(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run() -> dict[str, object]:
    from robot_dog.mqtt.broker import BrokerError, MosquittoBroker

    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        tmpdir = Path(tmp)
        path = DOG_LAUNCH if DOG_LAUNCH.is_file() else _generated_launch_file(tmpdir)
        description = load(path)
        declared = {a.name for a in description.args}
        args = [f"dog:=bench{uuid.uuid4().hex[:6]}"] if "dog" in declared else []
        broker = None
        if "broker_port" in declared:
            try:
                broker = MosquittoBroker(port=_free_port(), data_dir=tmpdir).start()
                args.append(f"broker_port:={broker.port}")
            except BrokerError as exc:
                _LOGGER.warning("no broker for the bench (%s); nodes measured without one", exc)
        mcu = None
        if "mcu_port" in declared:  # the payload node with its serial link up, as on the dog
            from firmware_bridge.virtual_mcu.device import VirtualMcu
            mcu = VirtualMcu(tmpdir / "mcu").start()
            args.append(f"mcu_port:={mcu.link}")
        figures: dict[str, object] = {"stack_file": str(path.relative_to(REPO)) if path.is_relative_to(REPO)
                                      else "generated: importable registry nodes",
                                      "nodes": len(description.nodes)}
        log = tmpdir / "launch.log"
        try:
            launcher = _launch(path, args, log)
            try:
                parent = psutil.Process(launcher.pid)
                _settled(parent, len(description.nodes))
                nodes_rss = 0
                children = parent.children()
                for child in children:
                    rss = _tree_bytes(child)[0]
                    figures[f"node_{_node_label(child)}_rss_mb"] = rss / _MB
                    figures[f"node_{_node_label(child)}_by_library"] = _by_library(child)
                    nodes_rss += rss
                launcher_rss = parent.memory_info().rss
                figures["nodes_running"] = len(children)
                figures["launcher_rss_mb"] = launcher_rss / _MB
                figures["per_process_nodes_rss_mb"] = nodes_rss / _MB
                figures["per_process_total_rss_mb"] = (nodes_rss + launcher_rss) / _MB
                figures["per_process_total_pss_mb"] = _tree_bytes(parent)[1] / _MB
            finally:
                _stop(launcher)
            composed = _launch(path, [*args, "--single-process"], log)
            try:
                parent = psutil.Process(composed.pid)
                _settled(parent, 0)
                rss, pss = _tree_bytes(parent)
                figures["composed_by_library"] = _by_library(parent)
                figures["composed_rss_mb"] = rss / _MB
                figures["composed_pss_mb"] = pss / _MB
                figures["composed_alive"] = composed.poll() is None
            finally:
                _stop(composed)
            respawning = sum(1 for n in description.nodes if n.respawn)
            hybrid = _launch(path, [*args, "--compose"], log)
            try:
                parent = psutil.Process(hybrid.pid)
                _settled(parent, respawning + 1)
                for child in parent.children():
                    label = ("composed" if "--without-respawning" in " ".join(child.cmdline())
                             else _node_label(child))
                    figures[f"compose_{label}_rss_mb"] = _tree_bytes(child)[0] / _MB
                rss, pss = _tree_bytes(parent)
                figures["compose_total_rss_mb"] = rss / _MB   # with the launcher
                figures["compose_total_pss_mb"] = pss / _MB
                figures["compose_alive"] = hybrid.poll() is None
            finally:
                _stop(hybrid)
        finally:
            if broker is not None:
                broker.stop()
            if mcu is not None:
                mcu.stop()
        figures["composed_goal_mb"] = COMPOSED_GOAL_MB
        figures["composed_goal_met"] = figures["composed_rss_mb"] <= COMPOSED_GOAL_MB  # type: ignore[operator]
        figures["per_process_goal_mb"] = PER_PROCESS_GOAL_MB
        figures["per_process_goal_met"] = (
            figures["per_process_total_rss_mb"] <= PER_PROCESS_GOAL_MB)  # type: ignore[operator]
        return figures
