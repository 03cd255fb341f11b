"""`robot-dog demo --headless --duration N` on the simulator (kinematic mode): the dog walks the
scenario's patrol route, the station stores frames rendered by the simulator, telemetry and the
scenario's low-battery event; the summary says so and the exit code is 0. Every hop real."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import cv2
import numpy as np
import pytest

from robot_dog.audio import devices
from robot_dog.ros import dds_env
from tests.fixtures.processes import unique_namespace
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow


DOG = unique_namespace("d")[1:]  # the demo's dog ID is its ROS namespace: this run's own


def station_frame(port: int, token_file) -> np.ndarray | None:
    """The station's latest frame of the dog (reads need a login: the demo's API token)."""
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/video/{DOG}/bodycam.jpg",
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
        data = urllib.request.urlopen(request, timeout=5).read()
    except OSError:  # also before the demo wrote the token file
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def rendered_by_the_simulator(frame: np.ndarray | None) -> bool:
    """The dog's own light bar across the lower middle (a near-black base under the two heads)
    and lit pavement above it: neither the test scene's colour bars nor a NO SIGNAL frame."""
    if frame is None or frame.shape != (480, 640, 3):
        return False
    bar_base = frame[388:398, 200:440].mean()
    pavement = frame[240:300, 40:600]
    return bar_base < 45 and 70 < pavement.mean() < 230 and np.ptp(pavement.mean(axis=(0, 1))) < 40


def test_headless_demo_walks_the_route_and_stores_simulator_frames(tmp_path):
    http_port = free_port()
    log = tmp_path / "demo.log"
    token_file = tmp_path / "var" / "demo.token"
    with open(log, "w") as sink:   # a file, not a pipe: the stack's log lines never block it
        demo = subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "demo", "--headless", "--duration", "30",
             "--mode", "kinematic", "--broker-port", str(free_port()), "--http-port", str(http_port),
             "--handheld-port", "0", "--var", str(tmp_path / "var"), "--dog", DOG],
            env=dds_env.environ(), stdout=sink, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
    try:
        [frame] = wait_for(lambda: [f] if rendered_by_the_simulator(f := station_frame(http_port, token_file)) else None,
                           "a simulator frame at the station", timeout_s=90, interval_s=0.5)
        cv2.imwrite(str(tmp_path / "station_frame.png"), frame)
        try:
            demo.wait(timeout=120)
        except subprocess.TimeoutExpired:   # say where it hung (a CI run once saw only the timeout)
            pytest.fail("the demo did not end 120 s after the station's first frame; its output's "
                        "end:\n" + log.read_text(errors="replace")[-4000:])
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    out = log.read_text(errors="replace")
    assert demo.returncode == 0, out[-3000:]
    summary = json.loads(out[out.rindex("\n{"):])
    assert summary["distance_walked_m"] > 2.0          # the route follower walked the dog
    assert summary["frames_at_station"] > 0 and summary["telemetry_at_station"] > 0
    assert summary["events_at_station"] >= 1            # the scenario's low battery at 8 s
    assert summary["rejected"] == {}
    # The street played into the run's own audio devices, and that daemon went with the demo.
    assert "street audio: 1 sound(s) into 'robot_dog_street'" in out
    assert "street audio off" not in out
    assert not devices.daemon_running(tmp_path / "var" / "audio")
