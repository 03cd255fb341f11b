"""CPU time of the two audio nodes at rest, by thread, and of the microphone's per-frame cores.

microphone_node and megaphone_node in processes of their own on a PulseAudio daemon of this
benchmark's own (the virtual devices, as `bench node_cpu` runs them), nobody playing or
talking; this process publishes `amplifier/state` at 5 Hz (as payload_node does) and
subscribes `microphone/audio_blocks` (as the bodycam's recorder does). Over a window, from
/proc: each node's CPU (user + system) as % of one core, that of its children reaped meanwhile
(the megaphone's device check runs `pactl` every 2 s; `bench node_cpu` does not count them),
its busiest thread other than the main one (the microphone's reader, the megaphone's output
loop) and the main thread's context switches per second (the executor's wakes).
Then the microphone's cores alone: CPU time (thread_time) of the level meter and the sound-event
detector per 20 ms frame of a quiet street, called once per 20 ms as the node calls them (a
tight loop keeps caches warm and reads 2-3x lower).
CPU time, not wall time: the figures change little with the machine's load (say it anyway).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from bench.procs import stop as stop_processes
from robot_dog.audio import devices
from robot_dog.ros import dds_env

WINDOW_S = 20.0
FRAMES = 500
_CLOCK = os.sysconf("SC_CLK_TCK")


def _ticks(stat: str) -> tuple[float, float]:
    """(own CPU s, reaped children's CPU s) from a /proc stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return ((int(fields[11]) + int(fields[12])) / _CLOCK,
            (int(fields[13]) + int(fields[14])) / _CLOCK)


def _threads(pid: int) -> dict[int, tuple[float, int]]:
    """Thread id -> (CPU s, context switches) of a process."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu = _ticks((task / "stat").read_text())[0]
            status = (task / "status").read_text()
        except OSError:
            continue
        out[int(task.name)] = (cpu, sum(int(line.split()[1]) for line in status.splitlines()
                                        if "ctxt_switches" in line))
    return out


def _nodes_at_rest(workdir: Path) -> dict[str, object]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from robot_dog_interfaces.msg import AmplifierState, AudioChunk

    from robot_dog.ros import qos
    namespace = f"/bench_{uuid.uuid4().hex[:8]}"
    procs = {}
    for name in ("microphone", "megaphone"):
        log = open(workdir / f"{name}.log", "w")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"robot_dog.audio.{name}_node", "--ros-args", "-r",
             f"__ns:={namespace}"],
            env=dds_env.environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    ros = rclpy.create_node("bench_audio_rest", namespace=namespace, context=context)
    amp = ros.create_publisher(AmplifierState, "amplifier/state", qos.STATE)
    ros.create_timer(0.2, lambda: amp.publish(AmplifierState()))
    blocks: list[int] = []
    ros.create_subscription(AudioChunk, "microphone/audio_blocks",
                            lambda m: blocks.append(m.sequence), qos.SENSOR)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(ros)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    figures: dict[str, object] = {"window_s": WINDOW_S}
    try:
        end = time.monotonic() + 60
        while len(blocks) < 20 and time.monotonic() < end:
            time.sleep(0.2)
        if len(blocks) < 20:
            raise RuntimeError(f"no microphone/audio_blocks in 60 s (logs in {workdir})")
        time.sleep(5.0)                                  # settled: the megaphone at rest
        pids = {name: p.pid for name, p in procs.items()}
        before = {name: (_ticks(Path(f"/proc/{pid}/stat").read_text()), _threads(pid))
                  for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(WINDOW_S)
        elapsed = time.monotonic() - started
        for name, pid in pids.items():
            (own0, children0), threads0 = before[name]
            own, children = _ticks(Path(f"/proc/{pid}/stat").read_text())
            threads = _threads(pid)
            figures[f"{name}_cpu_pct"] = 100 * (own - own0) / elapsed
            figures[f"{name}_children_cpu_pct"] = 100 * (children - children0) / elapsed
            used = {tid: cpu - threads0.get(tid, (0.0, 0))[0] for tid, (cpu, _) in threads.items()}
            busiest = max((tid for tid in used if tid != pid), key=used.__getitem__)
            figures[f"{name}_busiest_thread_cpu_pct"] = 100 * used[busiest] / elapsed
            figures[f"{name}_main_thread_wakes_per_s"] = (
                (threads[pid][1] - threads0[pid][1]) / elapsed)
    finally:
        stop.set()
        spinner.join(timeout=5)
        stop_processes(list(procs.values()))
        executor.shutdown()
        ros.destroy_node()
        context.try_shutdown()
    return figures


def _cores_per_frame() -> dict[str, object]:
    from robot_dog.audio.level import LevelMeter
    from robot_dog.audio.pcm import to_float
    from robot_dog.audio.sound_events import SoundEventDetector
    street = np.random.default_rng(1).normal(0, 30, (FRAMES, 960)).astype(np.int16)  # -60 dBFS
    meter, detector = LevelMeter(), SoundEventDetector()
    used = 0.0
    for samples in street:
        time.sleep(0.02)
        begin = time.thread_time()
        frame = to_float(samples)
        detector.update(frame, meter.update(frame, samples.tobytes()))
        used += time.thread_time() - begin
    return {"microphone_cores_ms_per_frame": 1e3 * used / FRAMES,
            "microphone_cores_cpu_pct": 100 * used / (FRAMES * 0.02)}


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench_audio_rest_") as tmp:
        audio = devices.ensure_virtual_devices(Path(tmp) / "pulse")
        try:
            figures = _nodes_at_rest(Path(tmp))
        finally:
            audio.stop()
    return {**figures, **_cores_per_frame()}
