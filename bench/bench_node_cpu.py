"""CPU of each dog node at rest, and the bodycam frames the uplink delivers meanwhile.

Launches launch/dog.launch.yaml one process per node (bodycam on its test scene at 15 fps, a
throwaway Mosquitto, the virtual MCU on a pty, as bench_memory does), waits until it has
settled, then samples each node process's CPU time over a window while a plain paho client
counts the video messages that reach the broker. "At rest": nobody drives, talks or commands;
the uplink streams every bodycam frame, as it does whenever it is connected.
Goals (docs/BENCHMARKS.md): all dog nodes together <= 25 % of one core; the uplink delivers
every bodycam frame (15 per second).
"""
from __future__ import annotations

import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

from bench.bench_memory import DOG_LAUNCH, _free_port, _launch, _node_label, _settled, _stop
from robot_dog.launch.description import load

WINDOW_S = 20.0
TOTAL_GOAL_PCT = 25.0
FRAMES_GOAL_HZ = 15.0


def _count_video(port: int, dog: str, stop: threading.Event, counts: list[float]) -> None:
    import paho.mqtt.client as mqtt
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, _m: counts.append(time.monotonic())
    client.connect("127.0.0.1", port)
    client.subscribe(f"patrol/v1/{dog}/video/#", qos=0)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    client.disconnect()


def _cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run() -> dict[str, object]:
    from firmware_bridge.virtual_mcu.device import VirtualMcu
    from robot_dog.mqtt.broker import MosquittoBroker

    with tempfile.TemporaryDirectory(prefix="bench_node_cpu_") as tmp:
        tmpdir = Path(tmp)
        description = load(DOG_LAUNCH)
        dog = f"cpu{uuid.uuid4().hex[:6]}"
        broker = MosquittoBroker(port=_free_port(), data_dir=tmpdir).start()
        mcu = VirtualMcu(tmpdir / "mcu").start()
        args = [f"dog:={dog}", f"broker_port:={broker.port}", f"mcu_port:={mcu.link}",
                f"state_dir:={tmpdir / 'uplink'}"]
        figures: dict[str, object] = {"window_s": WINDOW_S}
        launcher = _launch(DOG_LAUNCH, args, tmpdir / "launch.log")
        stop = threading.Event()
        frames: list[float] = []
        counter = threading.Thread(target=_count_video, args=(broker.port, dog, stop, frames))
        try:
            parent = psutil.Process(launcher.pid)
            _settled(parent, len(description.nodes))
            counter.start()
            time.sleep(2.0)  # subscribed and past the first frames
            children = parent.children()
            before = {c.pid: _cpu_s(c) for c in children}
            frames.clear()
            started = time.monotonic()
            time.sleep(WINDOW_S)
            elapsed = time.monotonic() - started
            delivered = len(frames)
            total = 0.0
            for child in children:
                pct = 100.0 * (_cpu_s(child) - before[child.pid]) / elapsed
                figures[f"node_{_node_label(child)}_cpu_pct"] = pct
                total += pct
            figures["nodes_total_cpu_pct"] = total
            figures["video_frames_per_s"] = delivered / elapsed
        finally:
            stop.set()
            if counter.is_alive():
                counter.join(timeout=5)
            _stop(launcher)
            broker.stop()
            mcu.stop()
        if not figures.get("video_frames_per_s"):
            raise RuntimeError(f"no video reached the broker in {WINDOW_S:g} s: see the stack's log")
        figures["total_goal_pct"] = TOTAL_GOAL_PCT
        figures["total_goal_met"] = total <= TOTAL_GOAL_PCT
        figures["frames_goal_met"] = figures["video_frames_per_s"] >= 0.95 * FRAMES_GOAL_HZ  # type: ignore[operator]
        return figures
