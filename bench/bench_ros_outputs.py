"""What the simulator's ROS outputs cost per control tick (20 ms of sim time), no ROS graph:
building odom, IMU, joint states and the /tf message (base and the 12 leg joints from the
description) every tick, and one 360-beam laser scan (every 5th tick at 10 Hz), in the
obstacles scenario, kinematic mode. CPU time of this process, median of N ticks: the share of a
tick's 20 ms these take (goal: the scan <= 2 ms, the messages <= 1 ms)."""
from __future__ import annotations

import statistics
import time

from bench.stats import NoSamples
from sim import messages
from sim import robot as R
from sim.core import SimWorld, check_command, step
from sim.description import describe, moving_transforms
from sim.laser import LaserScanner
from sim.noise import NoiseModel, SensorNoise
from sim.scenario import load_scenario

TICKS = 500


def run() -> dict[str, object]:
    world = SimWorld(load_scenario("obstacles"), "kinematic")
    desc, scanner = describe(world.model), LaserScanner(world.model)
    noise = NoiseModel()
    sensors = SensorNoise(noise, realistic=True, seed=1)
    build, scan = [], []
    for i in range(TICKS):
        s = step(world, check_command(0.3, 0.0, 0.2))
        stamp = messages.stamp_of(s.time)
        t0 = time.process_time()
        r = sensors.read(s)
        messages.odometry(r, noise, stamp)
        messages.imu(s, r, noise, stamp)
        messages.joint_state(s, stamp)
        legs = moving_transforms(desc, dict(zip(R.JOINTS_MODEL, s.joint_position.tolist())))
        messages.transforms([messages.base_transform(r), *legs], stamp)
        t1 = time.process_time()
        build.append(t1 - t0)
        if i % 5 == 0:
            ranges = scanner.scan(world.data)
            messages.laser_scan(ranges, scanner.config, stamp)
            scan.append(time.process_time() - t1)
    if not build or not scan:
        raise NoSamples("no ticks measured")
    return {"messages_per_tick_p50_ms": round(statistics.median(build) * 1e3, 3),
            "laser_scan_p50_ms": round(statistics.median(scan) * 1e3, 3),
            "ticks": TICKS}
