"""Simulator: physics real-time factor, rendering, cmd_vel response, demo start-up and memory.

- physics RTF without rendering: the walking policy on MuJoCo (and the kinematic mode), one
  thread, as fast as possible: sim seconds per wall second (goal >= 20x for the policy), and per
  CPU second of this process (what an idle core would give: the machine may be shared; the
  1-minute load average at the start is printed too);
- with the bodycam rendered at 640x480, 15 frames per sim second, policy on, one thread
  (goal >= 1.0x), and render fps alone;
- the runner in real time (physics thread + bodycam thread at 15 fps): achieved RTF and fps;
- cmd_vel step 0 -> 0.5 m/s: sim time until the walking dog's forward velocity (0.2 s mean)
  reaches 90 %;
- demo start -> first simulated frame at the station (goal <= 10 s), and the sim_node's RSS
  with rendering 10 s later (goal <= 1.5 GB): `robot-dog demo --headless` in a child process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from pathlib import Path

import numpy as np
import psutil

from robot_dog.ros import dds_env
from sim.core import SimWorld, check_command, step
from sim.model import CONTROL_DT
from sim.scenario import load_scenario

SIM_SECONDS = float(os.environ.get("ROBOT_DOG_BENCH_SIM_SECONDS", "20"))


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def physics_rtf(mode: str) -> tuple[float, float]:
    """(sim s per wall s, sim s per CPU s of this process)."""
    world = SimWorld(load_scenario("plaza_day"), mode)
    walk = check_command(0.5, 0.0, 0.3)
    for _ in range(25):  # warm-up (onnxruntime's first call)
        step(world, walk)
    ticks = round(SIM_SECONDS / CONTROL_DT)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(ticks):
        step(world, walk)
    sim = ticks * CONTROL_DT
    return sim / (time.perf_counter() - started), sim / (time.process_time() - cpu)


def rendered_rtf(backend_fps: dict[str, float]) -> tuple[float, float]:
    from sim.payload_view import PayloadOutputs, apply_look
    from sim.render import BodycamRenderer
    world = SimWorld(load_scenario("plaza_day"), "policy")
    walk = check_command(0.5, 0.0, 0.3)
    with BodycamRenderer(world.model, 640, 480) as camera:
        apply_look(world.model, PayloadOutputs(red_on=True, searchlight_output=1.0))
        camera.render(world.data)
        ticks = round(SIM_SECONDS / 2 / CONTROL_DT)
        frames, next_frame = 0, 0.0
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(ticks):
            step(world, walk)
            if world.time >= next_frame:     # 15 frames per sim second
                camera.render(world.data)
                frames += 1
                next_frame += 1 / 15
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        t = time.perf_counter()
        for _ in range(30):
            camera.render(world.data)
        backend_fps[camera.backend] = 30 / (time.perf_counter() - t)
    return ticks * CONTROL_DT / elapsed, ticks * CONTROL_DT / cpu_used


def runner_real_time(seconds: float = 10.0) -> tuple[float, float]:
    from sim.runner import RunnerConfig, SimRunner
    world = SimWorld(load_scenario("plaza_day"), "policy")
    runner = SimRunner(world, RunnerConfig(real_time_factor=1.0, camera_fps=15.0))
    runner.command(check_command(0.5, 0.0, 0.0))
    runner.start()
    time.sleep(2.0)   # renderer start-up
    t0, f0, w0 = world.time, runner.frames, time.monotonic()
    deadline = w0 + seconds
    while time.monotonic() < deadline:
        runner.command(check_command(0.5, 0.0, 0.0))
        time.sleep(0.2)
    wall = time.monotonic() - w0
    result = (world.time - t0) / wall, (runner.frames - f0) / wall
    runner.stop()
    return result


def step_response_t90() -> float:
    world = SimWorld(load_scenario("plaza_day"), "policy")
    for _ in range(50):
        step(world)
    target = 0.5
    window: deque[float] = deque(maxlen=10)
    start = world.time
    while world.time - start < 10.0:
        state = step(world, check_command(target, 0.0, 0.0))
        window.append(float(state.linear_velocity[0]))
        if len(window) == window.maxlen and np.mean(window) >= 0.9 * target:
            return world.time - start - (window.maxlen - 1) * CONTROL_DT / 2
    return float("inf")


def simulator_frame(port: int, var: Path) -> bool:
    import cv2

    from robot_dog.cli.demo import DEMO_TOKEN_FILE
    token_file = var / DEMO_TOKEN_FILE   # the demo's API token, written at start-up
    if not token_file.is_file():
        return False
    request = urllib.request.Request(f"http://127.0.0.1:{port}/video/dog1/bodycam.jpg",
                                     headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
    try:
        data = urllib.request.urlopen(request, timeout=2).read()
    except OSError:   # not up yet, or no frame yet (404); HTTPError is an OSError
        return False
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    # The dog's light bar base (near black) across the lower middle: a rendered frame.
    return frame is not None and frame.shape == (480, 640, 3) and frame[388:398, 200:440].mean() < 45


def demo_start() -> tuple[float, float]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as var, open(Path(var) / "demo.log", "w") as log:
        started = time.monotonic()
        demo = subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "demo", "--headless", "--http-port", str(port),
             "--broker-port", str(_free_port()), "--handheld-port", "0", "--var", var], env=dds_env.environ(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            first = float("nan")
            while time.monotonic() - started < 120:
                if simulator_frame(port, Path(var)):
                    first = time.monotonic() - started
                    break
                time.sleep(0.1)
            time.sleep(10.0)
            rss = max((p.memory_info().rss for p in psutil.Process(demo.pid).children(recursive=True)
                       if any("sim_node" in part for part in p.cmdline())), default=0)
        finally:
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    return first, rss / 2**20


def run() -> dict[str, object]:
    figures: dict[str, object] = {}
    figures["load_average_1min_at_start"] = os.getloadavg()[0]
    figures["physics_rtf_policy_x"], figures["physics_rtf_policy_per_cpu_s_x"] = physics_rtf("policy")
    figures["physics_rtf_kinematic_x"], figures["physics_rtf_kinematic_per_cpu_s_x"] = physics_rtf("kinematic")
    fps: dict[str, float] = {}
    (figures["rtf_policy_bodycam_640x480_15fps_x"],
     figures["rtf_policy_bodycam_640x480_15fps_per_cpu_s_x"]) = rendered_rtf(fps)
    for backend, value in fps.items():
        figures[f"render_fps_640x480_{backend}"] = value
    rtf, camera_fps = runner_real_time()
    figures["runner_real_time_rtf_x"] = rtf
    figures["runner_real_time_camera_fps"] = camera_fps
    figures["cmd_vel_step_0_to_0.5_t90_s"] = step_response_t90()
    first, rss_mb = demo_start()
    figures["demo_start_to_first_sim_frame_at_station_s"] = first
    figures["sim_node_rss_with_rendering_mb"] = rss_mb
    return figures
