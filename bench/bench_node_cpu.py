"""CPU of each dog node at rest, and the bodycam frames the uplink delivers meanwhile.

Launches launch/dog.launch.yaml one process per node (bodycam on its test scene at 15 fps, a
throwaway Mosquitto, the virtual MCU on a pty, as bench_memory does), waits until it has
settled, then samples each node process's CPU time over a window while a plain paho client
counts the video messages that reach the broker. "At rest": nobody drives, talks or commands;
the uplink streams every bodycam frame, as it does whenever it is connected.
Beside each node's CPU, its wakes per second: the context switches of the thread that spins its
executor (the process's main thread), one per return from the executor's wait, plus any wait
for the GIL (a node's own threads: the microphone's capture, the bodycam's recorder); each
executor wake costs rclpy 0.4-0.8 ms of Python before any callback (docs/BENCHMARKS.md).
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


def _count_bodycam(dog: str, stop: threading.Event, counts: list[float]) -> None:
    """Frames the bodycam published (the uplink should deliver every one)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CompressedImage

    from robot_dog.ros import dds_env, qos
    dds_env.apply(large_samples=False)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("cpu_probe", namespace=f"/{dog}", context=context)
    node.create_subscription(CompressedImage, "bodycam/image/compressed",
                             lambda _m: counts.append(time.monotonic()), qos.SENSOR)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.1)
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()


def _cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _switches(proc: psutil.Process) -> int:
    """Context switches (voluntary and not) of the process's main thread so far."""
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/status").read_text()
    except OSError:
        return 0
    return sum(int(line.split()[1]) for line in text.splitlines()
               if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))


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
        published: list[float] = []
        counter = threading.Thread(target=_count_video, args=(broker.port, dog, stop, frames))
        camera = threading.Thread(target=_count_bodycam, args=(dog, stop, published))
        try:
            parent = psutil.Process(launcher.pid)
            _settled(parent, len(description.nodes))
            counter.start()
            camera.start()
            time.sleep(2.0)  # subscribed and past the first frames
            children = parent.children()
            before = {c.pid: _cpu_s(c) for c in children}
            switched = {c.pid: _switches(c) for c in children}
            frames.clear()
            published.clear()
            started = time.monotonic()
            time.sleep(WINDOW_S)
            elapsed = time.monotonic() - started
            delivered, made = len(frames), len(published)
            total = 0.0
            for child in children:
                pct = 100.0 * (_cpu_s(child) - before[child.pid]) / elapsed
                figures[f"node_{_node_label(child)}_cpu_pct"] = pct
                figures[f"node_{_node_label(child)}_wakes_per_s"] = (
                    (_switches(child) - switched[child.pid]) / elapsed)
                total += pct
            figures["nodes_total_cpu_pct"] = total
            figures["bodycam_frames_per_s"] = made / elapsed
            figures["video_frames_per_s"] = delivered / elapsed
            figures["video_delivered_pct"] = 100.0 * delivered / made if made else 0.0
        finally:
            stop.set()
            for thread in (counter, camera):
                if thread.is_alive():
                    thread.join(timeout=5)
            _stop(launcher)
            broker.stop()
            mcu.stop()
        if not figures.get("video_frames_per_s"):
            # The log lives in the temporary directory: its tail goes into the reason.
            tail = [line for line in (tmpdir / "launch.log").read_text(errors="replace").splitlines()
                    if "RTPS_TRANSPORT_SHM" not in line][-20:]
            raise RuntimeError(f"no video reached the broker in {WINDOW_S:g} s; the stack's log "
                               "ends:\n" + "\n".join(tail))
        figures["total_goal_pct"] = TOTAL_GOAL_PCT
        figures["total_goal_met"] = total <= TOTAL_GOAL_PCT
        # Every frame the bodycam made reached the broker, and the bodycam made its 15 per second.
        figures["frames_goal_met"] = (figures["video_delivered_pct"] >= 95.0  # type: ignore[operator]
                                      and figures["bodycam_frames_per_s"] >= 0.95 * FRAMES_GOAL_HZ)  # type: ignore[operator]
        return figures
