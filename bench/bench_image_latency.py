"""Cross-process sensor_msgs/Image 640x480 latency: project DDS profile vs Fast DDS defaults.

Neither run may multicast off-machine: "profile" is the project's environment
(robot_dog.ros.dds_env); "defaults" drops the project's Fast DDS profile and relies on
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST instead (default 512 KB shared-memory segment, so
a 900 KB image falls back to fragmented loopback UDP). Same machine, same run, compared as a
ratio. Two QoS: sensor (best effort, as the bodycam publishes: how many images arrive) and
reliable (every image arrives: latency of the transport path). BENCH_IMAGE_COUNT sets the
sample count (default 200 at 30 Hz).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import uuid

from robot_dog.ros import dds_env

COUNT = int(os.environ.get("BENCH_IMAGE_COUNT", "200"))
RATE_HZ = 30.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(env: dict[str, str], qos: str) -> list[float]:
    probe = [sys.executable, "-m", "bench.image_latency_probe"]
    topic = f"bench_{uuid.uuid4().hex[:8]}/image"  # this measurement's own topic
    sub = subprocess.Popen(probe + ["sub", topic, qos, str(COUNT), str(COUNT / RATE_HZ + 20)], env=env,
                           stdout=subprocess.PIPE, text=True)
    pub = subprocess.Popen(probe + ["pub", topic, qos, str(COUNT), str(RATE_HZ)], env=env)
    try:
        out, _ = sub.communicate(timeout=COUNT / RATE_HZ + 90)
    finally:
        pub.kill()
        pub.wait()
    return json.loads(out)


def run() -> dict[str, object]:
    project = dds_env.environ()
    # Fast DDS defaults without the profile, kept on this machine by rmw's LOCALHOST range.
    defaults = {k: v for k, v in project.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}
    figures: dict[str, object] = {}
    for qos in ("sensor", "reliable"):
        received: dict[str, int] = {}
        for name, env in (("profile", project), ("defaults", defaults)):
            lat = measure(env, qos)
            received[name] = len(lat)
            # The first samples include connection set-up; drop the first 5% as warm-up.
            steady = lat[len(lat) // 20:] or lat
            figures[f"{qos}_{name}_received"] = f"{len(lat)}/{COUNT}"
            if steady:
                figures[f"{qos}_{name}_p50_ms"] = statistics.median(steady)
                figures[f"{qos}_{name}_p99_ms"] = percentile(steady, 99)
        for q in ("p50", "p99"):
            key = f"{qos}_{{}}_{q}_ms"
            # A latency ratio over a handful of survivors says nothing; the loss is the figure then.
            if min(received.values()) >= COUNT // 2:
                figures[f"{qos}_{q}_ratio_defaults_over_profile"] = (
                    figures[key.format("defaults")] / figures[key.format("profile")])
    return figures
