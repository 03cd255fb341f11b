"""Dispatch end to end: the station's signed `goto`, `return`, `cancel` and `patrol` (on explicit
waypoints) over the secured Mosquitto reach uplink_node, which hands them to patrol_node's goal
actions; the dog (safety_node and the echo base as processes) walks through the safety mux, and
the ending comes back to the station as a `goal` event, with progress in the telemetry section
`goal`. A point refused by the dog comes back as an event with the node's code; a command outside
the verb's schema is refused by the station before it is signed."""
from __future__ import annotations

import math
from functools import partial

import pytest

from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_patrol_goals_e2e import pose
from tests.test_safety_node_e2e import start
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)


def goal_events(api: Api) -> list[dict]:
    return [e for e in api.get("/api/dogs/dog1/events")["events"] if e["type"] == "goal"]


def test_goto_return_and_cancel_from_the_station(secure_broker, children, safety_chain, ros_probe,
                                                dog_namespace, tmp_path):
    probe = ros_probe
    from nav_msgs.msg import Odometry

    from robot_dog.ros import qos
    probe.record(Odometry, "odom", qos.TELEMETRY)
    start(probe)
    patrol = NodeProcess("robot_dog.patrol.node", dog_namespace, tmp_path / "patrol.log",
                         patrol_at_start=False, speed=0.8)
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root)).start()
    try:
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        api = Api(station.http.port, api_token(station.accounts))
        wait_for(lambda: probe.messages("odom"), "the base")
        # The dispatcher's deliberate action: the patrol input starts paused (restart interlock).
        wait_for(lambda: api.command("dog1", "resume", {"input": "patrol"})[1]
                 .get("result", {}).get("code") == "ok", "the station's resume")

        status, body = api.command("dog1", "goto", {"x": 1e7, "y": 0.0})
        assert (status, body["code"]) == (400, "bad_args"), body      # refused before signing
        status, body = api.command("dog1", "cancel", {})
        assert body["result"]["code"] == "no_goal", body               # nothing runs yet

        status, body = api.command("dog1", "goto", {"x": 6.0, "y": 0.0})
        assert status == 200 and body["result"]["code"] == "ok", body   # the node has the goal
        wait_for(lambda: any(e["data"]["state"] == "arrived" for e in goal_events(api)),
                 "the arrival event at the station")
        assert math.dist(pose(probe), (6.0, 0.0)) <= 0.6
        goal = wait_for(lambda: (g := api.get("/api/dogs/dog1/telemetry")["goal"])["state"] == "arrived"
                        and g, "the arrival in the telemetry section goal")
        assert goal["target"] == {"x": 6.0, "y": 0.0}, goal

        status, body = api.command("dog1", "goto", {"x": 500.0, "y": 0.0})
        assert body["result"]["code"] == "ok", body                    # taken, then refused
        refused = wait_for(lambda: [e for e in goal_events(api) if e["data"]["state"] == "refused"],
                           "the dog's refusal as an event")
        assert refused[0]["message"].startswith("navigate_to: refused (too_far:"), refused

        status, body = api.command("dog1", "return", {})
        assert body["result"]["code"] == "ok", body
        wait_for(lambda: math.dist(pose(probe), (6.0, 0.0)) > 2.0, "the dog walking home")
        status, body = api.command("dog1", "cancel", {})
        assert body["result"]["code"] == "ok", body
        ended = wait_for(lambda: [e for e in goal_events(api)
                                  if e["data"] == {"label": "return home", "state": "cancelled"}],
                         "the cancelled return as an event")
        assert ended
        stopped = pose(probe)
        assert 0.5 < math.dist(stopped, (0.0, 0.0)) < 4.0

        # The station's own route: explicit waypoints instead of the named one, walked once.
        status, body = api.command("dog1", "patrol", {"route": "patrol", "waypoints": [[1.0, 1.5]]})
        assert (status, body["code"]) == (400, "bad_args"), body      # not ignored: refused unsigned
        route = [[stopped[0], 1.5], [1.0, 1.5]]
        status, body = api.command("dog1", "patrol", {"route": "waypoints", "waypoints": route,
                                                      "loop": False})
        assert body["result"]["code"] == "ok", body
        wait_for(lambda: any(e["data"] == {"label": "follow_route (2 points)", "state": "arrived"}
                             for e in goal_events(api)), "the route's arrival event")
        assert math.dist(pose(probe), (1.0, 1.5)) <= 0.6
    finally:
        station.stop()
        patrol.kill()
        children.reap()
