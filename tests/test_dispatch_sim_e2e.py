"""Dispatch end to end with the simulated dog: sim_node in kinematic mode on the plaza_day street
as the base behind safety_node, patrol_node's goal actions with the same scenario (its map),
uplink_node with dog1's fleet credentials, and the station over the secured Mosquitto; every
command goes through the station's API.

A point inside the library is refused by the dog with `in_obstacle` before anything moves. A
point 10 m away across the open plaza is reached within 0.5 m and the station hears the arrival
event. On the way back an e-stop from the station halfway ends the goal (`estop`); after the
release, a stand and even a resume of the patrol input, the dog stays where it stopped: only a
new dispatch moves it again (and it arrives).

A loaded machine can lapse the station's 2 s check-ins on the way: the dog rightly stops and the
operator recovers as a person would (Operator of test_incident_console_e2e.py); no deadline is
weakened. The e-stop halfway is the test's own, told apart by its reason."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from functools import partial

import pytest

from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_dispatch_e2e import goal_events
from tests.test_incident_console_e2e import Operator, go, goal_endings
from tests.test_patrol_goals_e2e import pose
from tests.test_safety_node_e2e import start
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)
SCENARIO = "plaza_day"
SOUTH = (0.0, -10.0)    # 10 m from the start, open plaza all the way (the jogger's path crosses it)
LIBRARY = (12.0, 1.5)   # the middle of plaza_day's library
STILL_S = 3.0           # a resumed goal would move the dog ~2 m in this time


@pytest.fixture
def sim_dog(dog_namespace, tmp_path) -> Iterator[NodeProcess]:
    """safety_node, sim_node (kinematic, no rendering) and patrol_node on the same scenario."""
    nodes = [NodeProcess("robot_dog.safety.node", dog_namespace, tmp_path / "safety.log"),
             NodeProcess("sim.node", dog_namespace, tmp_path / "sim.log", mode="kinematic",
                         scenario=SCENARIO, render=False, street_audio=False),
             NodeProcess("robot_dog.patrol.node", dog_namespace, tmp_path / "patrol.log",
                         scenario=SCENARIO, patrol_at_start=False, speed=0.8)]
    try:
        yield nodes[1]
    finally:
        for node in reversed(nodes):
            node.kill()
    assert "Traceback" not in nodes[1].output(), nodes[1].output()


def halfway_stop(api: Api, operator: Operator, probe, target: tuple[float, float]) -> tuple[float, float]:
    """Send dog1 to `target`, e-stop it from the station once it is halfway there and return where
    it stopped. A goal that a lapse of the station's check-ins ended first is sent again."""
    start_at = pose(probe)
    half = math.dist(start_at, target) / 2
    for _ in range(4):
        before = goal_endings(api)
        status, body = api.command("dog1", "goto", {"x": target[0], "y": target[1]})
        assert status == 200 and body["result"]["code"] == "ok", body
        under_way = wait_for(lambda before=before: operator() or (goal_endings(api) - before and "ended")
                             or (math.dist(pose(probe), start_at) >= half and "halfway"), "halfway")
        if under_way == "halfway":
            break
        wait_for(operator.dog_free, "the operator's recovery")
    else:
        raise AssertionError("the station's check-ins lapsed on every try")
    status, body = api.command("dog1", "estop", {"reason": "test halfway"})
    assert body["result"]["code"] == "ok", body
    ended = wait_for(lambda: +(goal_endings(api) - before), "the goal's ending at the station")
    assert set(ended) == {"estop"}, ended
    event = [e for e in goal_events(api) if e["data"]["state"] == "estop"][-1]
    assert "test halfway" in event["message"], event
    wait_for(lambda: probe.messages("estop")[-1].engaged and math.dist(
        pose(probe), pose_after(probe, 0.5)) < 0.01, "the dog standing still")
    return pose(probe)


def pose_after(probe, seconds: float) -> tuple[float, float]:
    time.sleep(seconds)
    return pose(probe)


def test_the_simulated_dog_dispatched_ten_metres_arrives_and_an_estop_halfway_holds_it(
        secure_broker, children, sim_dog, ros_probe, dog_namespace, tmp_path):
    probe = ros_probe
    start(probe)    # odom, estop, motion/state and base/state from the simulator and safety_node
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root)).start()
    try:
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        api = Api(station.http.port, api_token(station.accounts))
        operator = Operator(api, station, probe)
        wait_for(lambda: probe.messages("odom"), "the simulated dog's odometry")
        # the dispatcher's deliberate action: the patrol input starts paused (restart interlock)
        wait_for(lambda: operator() or api.command("dog1", "resume", {"input": "patrol"})[1]
                 .get("result", {}).get("code") == "ok", "the station's resume")

        # inside a building of the map: refused by the dog with its code, nothing moves
        status, body = api.command("dog1", "goto", {"x": LIBRARY[0], "y": LIBRARY[1]})
        assert body["result"]["code"] == "ok", body                    # taken, then refused
        refused = wait_for(lambda: [e for e in goal_events(api) if e["data"]["state"] == "refused"],
                           "the dog's refusal as an event")
        assert refused[0]["message"].startswith("navigate_to: refused (in_obstacle:"), refused
        assert "library" in refused[0]["message"]
        assert math.dist(pose(probe), (0.0, 0.0)) < 0.05

        # 10 m across the plaza: within 0.5 m, and the station hears the arrival
        go(api, operator, "goto", {"x": SOUTH[0], "y": SOUTH[1]}, "dog1 10 m south")
        assert math.dist(pose(probe), SOUTH) <= 0.5
        arrived = [e for e in goal_events(api) if e["data"]["state"] == "arrived"]
        assert arrived and arrived[-1]["data"]["label"] == "navigate_to odom", arrived
        goal = wait_for(lambda: (g := api.get("/api/dogs/dog1/telemetry")["goal"])["state"] == "arrived"
                        and g, "the arrival in the telemetry section goal")
        assert goal["target"] == {"x": SOUTH[0], "y": SOUTH[1]}, goal

        # back to the start; the station's e-stop halfway ends the goal
        stopped = halfway_stop(api, operator, probe, (0.0, 0.0))
        assert -7.5 < stopped[1] < -2.5, stopped
        wait_for(lambda: api.command("dog1", "estop_release", {})[1].get("result", {})
                 .get("code") == "ok", "the station's release")
        wait_for(lambda: operator.dog_free(), "the dog free and standing")
        # even the patrol input resumed (the mux would pass it): the ended goal stays ended
        wait_for(lambda: api.command("dog1", "resume", {"input": "patrol"})[1]
                 .get("result", {}).get("code") == "ok", "the patrol input resumed")
        seen = len(probe.messages("odom"))
        assert math.dist(pose_after(probe, STILL_S), stopped) < 0.05
        assert len(probe.messages("odom")) > seen + 10, "the simulator kept reporting"
        assert api.get("/api/dogs/dog1/telemetry")["goal"]["state"] == "estop"

        # a new dispatch moves it again
        go(api, operator, "goto", {"x": 0.0, "y": 0.0}, "dog1 back at the start")
        assert math.dist(pose(probe), (0.0, 0.0)) <= 0.5
    finally:
        station.stop()
        children.reap()
