"""A scripted incident: alarm at the station -> two-click dispatch -> the walking dog arrives.

In one process, with the real parts of each end and no transport between them: the station's
incident service on its SQLite tables (the alarm stored, `respond` opens the incident from it
and signs `goto` and `task` with dog1's command key), dog1's side verifying the signed `goto`
as its uplink does and handing it to the patrol node's goal core (robot_dog/patrol/goal.py) at
the node's 10 Hz, which drives the MuJoCo dog with the walking policy (the simulator's policy
mode, 50 Hz control) as fast as it goes; the arrival goes back to the service as the dog's
`goal` event, as the station's intake takes it. Not in the loop: MQTT, ROS and the safety mux
(their latencies: bench video_latency, safety, ros_outputs). The scene is the `incident`
scenario's shop street, the target 10 m straight ahead on the open street (in `plaza_day` that
point is inside the library, 9 m ahead: the walking dog stopped at its wall and the goal ended
`blocked`, as it should; the kinematic base drives through walls).

Figures, per run and as p50/max over the runs (ROBOT_DOG_BENCH_TRIALS, default 3):
- sim time from the dispatch to the arrival (10 m at the goal's default 0.6 m/s);
- wall time from the alarm stored to the arrival's entry in the timeline;
- cross-track error (distance from the straight line start -> target while walking), p95;
- the distance to the target at the arrival.
The machine may be shared: the 1-minute load average at the start is printed with them.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.stats import percentile
from robot_dog.mqtt import signing, topics
from robot_dog.patrol.goal import GoalTracker
from robot_dog.station.accounts import Accounts, Principal
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.incident_service import IncidentService
from robot_dog.station.storage import EventRow, Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.incident_tables import IncidentTables
from sim.core import SimWorld, check_command, read_state, step
from sim.model import CONTROL_DT
from sim.scenario import load_scenario
from tests.fixtures.command_keys import command_keys

DISTANCE_M = 10.0
SCENARIO = "incident"          # a shop street, open 10 m ahead of the start
NODE_HZ = 10.0                 # patrol_node's command rate (its rate_hz)
SIM_LIMIT_S = 120.0
CHIEF = Principal("指挥员李", "commander", "session")


def one_incident(mode: str, root: Path) -> dict[str, float]:
    keys = command_keys(root, "dog1")
    storage = Storage(root / "station.db")
    published: list[tuple[str, bytes]] = []
    service = IncidentService(IncidentTables(root / "station.db"), Accounts(AccountTables(root / "station.db")),
                              dispatcher=Dispatcher(keys.dir, lambda t, p, q: published.append((t, p)) or 0, storage),
                              storage=storage)
    world = SimWorld(load_scenario(SCENARIO), mode)
    for _ in range(25):                       # standing, the policy warm (onnxruntime's first call)
        state = step(world, check_command(0.0, 0.0, 0.0))
    start = (float(state.position[0]), float(state.position[1]))
    target = (start[0] + DISTANCE_M, start[1])
    try:
        alarm_at = time.perf_counter()
        alarm = {"v": 1, "dog": "dog1", "ts": time.time(), "id": "bench-0001", "type": "sound",
                 "severity": "critical", "message": "glass break"}
        storage.put(EventRow("dog1", time.time(), alarm))
        storage.flush()
        done = service.respond(CHIEF, alarm=("dog1", "bench-0001"), dog="dog1",
                               target={"x": target[0], "y": target[1]}, officer="王警官")
        topic, payload = next((t, p) for t, p in published if topics.parse(t).sub == "goto")
        goto = signing.verify(payload, dog="dog1", public_key=keys.public("dog1"), now=time.time(),
                              replay=signing.ReplayCache(), verb="goto")
        dispatched = world.time
        tracker = GoalTracker([(goto.args["x"], goto.args["y"])], started=dispatched)
        cross: list[float] = []
        command = check_command(0.0, 0.0, 0.0)
        per_tick = max(1, round(1.0 / NODE_HZ / CONTROL_DT))
        ticks = 0
        while tracker.outcome is None and world.time - dispatched < SIM_LIMIT_S:
            if ticks % per_tick == 0:
                pose = read_state(world)
                (vx, wz), _ = tracker.step((float(pose.position[0]), float(pose.position[1]), pose.yaw),
                                           world.time, driving=True)
                command = check_command(vx, 0.0, wz)
            state = step(world, command)
            ticks += 1
            cross.append(abs(float(state.position[1]) - start[1]))   # the line is y = start y
        here = (float(state.position[0]), float(state.position[1]))
        if tracker.outcome is None or tracker.outcome.value != "arrived":   # said, not hidden
            return {"arrived": 0.0, "sim_s": world.time - dispatched, "wall_s": time.perf_counter() - alarm_at,
                    "cross_track_p95_m": percentile(cross, 0.95), "miss_m": math.dist(here, target),
                    "outcome": f"{tracker.outcome.value if tracker.outcome else 'none'}: {tracker.detail}"}
        arrived_sim = world.time - dispatched
        service.on_event("dog1", {"v": 1, "dog": "dog1", "ts": time.time(), "id": "bench-0002",
                                  "type": "goal", "severity": "info", "message": "navigate_to odom: arrived",
                                  "data": {"label": "navigate_to odom", "state": "arrived"}})
        wall = time.perf_counter() - alarm_at
        timeline = service.get(CHIEF, done["incident"]["id"])["timeline"]
        assert timeline[-1]["kind"] == "unit_status" and timeline[-1]["data"]["status"] == "on_scene"
        return {"arrived": 1.0, "sim_s": arrived_sim, "wall_s": wall,
                "cross_track_p95_m": percentile(cross, 0.95), "miss_m": math.dist(here, target),
                "outcome": "arrived"}
    finally:
        service.store.close()
        service.accounts.tables.close()
        storage.close()


def run() -> dict[str, object]:
    trials = int(os.environ.get("ROBOT_DOG_BENCH_TRIALS", "3"))
    out: dict[str, object] = {"load_1min_at_start": round(os.getloadavg()[0], 2),
                              "distance_m": DISTANCE_M, "trials": trials}
    for mode in ("policy", "kinematic"):
        runs = []
        for _ in range(trials):
            with tempfile.TemporaryDirectory() as root:
                runs.append(one_incident(mode, Path(root)))
        out[f"{mode}_arrived"] = f"{sum(r['arrived'] for r in runs):.0f} of {trials}"
        out[f"{mode}_outcomes"] = sorted({str(r["outcome"]) for r in runs})
        for name in ("sim_s", "wall_s", "cross_track_p95_m", "miss_m"):
            values = [r[name] for r in runs]
            base, unit = name.rsplit("_", 1) if name.endswith(("_s", "_m")) else (name, "")
            out[f"{mode}_{base}_p50_{unit}"] = round(float(np.median(values)), 3)
            out[f"{mode}_{base}_max_{unit}"] = round(max(values), 3)
    return out
