"""The scripted incident on the full stack: the dog's alarm -> the station's two-click dispatch -> the walking dog arrives.

Every part as in production, each its own process but the station: the secured Mosquitto of
`robot-dog fleet`, the station in this process (its HTTP API, ingest, incident service),
uplink_node with dog1's fleet credentials, safety_node, patrol_node on the `incident` scenario
(its map refuses points inside objects) and sim_node on the same scenario in policy mode (the
walking policy, rendering and street audio off, sim time on its odometry through a /clock of
its own namespace). The bench plays the microphone: a `glass_break` SoundEvent on the dog's
`microphone/events`, which the uplink raises as a critical alarm to the station. As soon as the
alarm is stored there, the commander answers it as the console's Dispatch + Confirm do: one
POST /api/incidents/respond (incident opened from the alarm, `goto` 10 m ahead on the open
street, `task` to an officer; no handheld runs, so the dog answers the task `unavailable`).
The dog's arrival comes back as its `goal` event into the incident's timeline. Then a route with
turns: `patrol` with explicit waypoints, loop off (four legs, 14 m, four left turns of 90°).

Figures (one incident per run; the machine may be shared, so the 1-minute load average at the
start and at the end is given with them):
- wall time from the alarm (the SoundEvent published) to the alarm stored at the station, and
  to the arrival's entry in the timeline (its time stamp, the station's clock);
- sim time from the dispatch (respond answered) to the arrival (the patrol node's `arrived`),
  read from the odometry's stamps; the same for the route;
- the distance to the target when the goal ended;
- how long each goal waited for the operator's Resume (the patrol input held by the restart
  interlock after it went quiet; wall s, part of the times above);
- cross-track error, p95 and max: each odometry pose's distance from the straight line start ->
  target, and from the route's polyline (the pose at its dispatch, then the waypoints);
- how often the operator acted (releases of the station's hold after a lapse of its 2 s
  check-ins, stands, resumes; as tests/test_incident_console_e2e.py's Operator) and how many
  goals such a lapse ended (each sent again, as a dispatcher would: the incident's dog once
  more from where it stopped, the route's remaining waypoints).
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import percentile
from robot_dog.ros import qos
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.processes import Children
from tests.fixtures.ros_nodes import NodeProcess, RosProbe
from tests.fixtures.secure_broker import SecureBroker, start_secure_broker
from tests.isolation import isolate
from tests.test_incident_console_e2e import Operator
from tests.test_safety_node_e2e import start as record_the_dog
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import spawn_uplink

SCENARIO = "incident"                 # the shop street: open from y -3.4 (a parked car) to 4.5
TARGET = (10.0, 0.0)                  # 10 m ahead of the start, as bench incident
#: From the arrival (facing +x): 2.5 m across the street, 6 m back along it, 2.5 m across again,
#: 3 m on: four left turns of 90°, clear of the lamp posts (y 4) and the car (y -3.4 to -1.6).
ROUTE = [(10.0, 2.5), (4.0, 2.5), (4.0, 0.0), (7.0, 0.0)]
SPEED = 0.6                           # m/s, the goal's default in bench incident
CHIEF, OFFICER = "指挥员李", "王警官"
ENDINGS = ("arrived", "cancelled", "preempted", "estop", "blocked", "timed_out", "refused")
TRIES = 4                             # goals a lapse may end before the run gives up
wait_for = support.wait_for


class CountingOperator(Operator):
    """The console test's operator, counting its actions (each one sets `last`)."""

    acted = 0

    def __call__(self) -> None:
        before = self.last
        super().__call__()
        self.acted += self.last != before


@dataclass
class Stack:
    broker: SecureBroker
    station: Station
    api: Api
    probe: RosProbe
    operator: CountingOperator
    nodes: list[NodeProcess]
    microphone: Any = None

    def timed(self, topic: str, since: float = 0.0) -> list[tuple[float, Any]]:
        """(monotonic time heard, message) of `topic` since `since`."""
        with self.probe.lock:
            return [(t, m) for t, m in self.probe.got.get(topic, []) if t >= since]

    def sim_at(self, moment: float) -> tuple[float, tuple[float, float]]:
        """(sim time, x, y) of the last odometry heard by `moment` (monotonic)."""
        heard = [m for t, m in self.timed("odom") if t <= moment]
        return sim_time(heard[-1]), xy(heard[-1])


def sim_time(odom: Any) -> float:
    return odom.header.stamp.sec + odom.header.stamp.nanosec * 1e-9


def xy(odom: Any) -> tuple[float, float]:
    p = odom.pose.pose.position
    return float(p.x), float(p.y)


@contextmanager
def full_stack(root: Path) -> Iterator[Stack]:
    from robot_dog_interfaces.msg import GoalState, SoundEvent
    # A ROS domain of this run's own, as a test run claims one (tests/isolation.py): the
    # simulator's /tf and /diagnostics stay off the domain a benchmark beside it runs on.
    isolate()
    namespace = f"/b{os.urandom(4).hex()}"
    broker = start_secure_broker(root / "fleet")
    children, nodes = Children(), []
    station = probe = None
    try:
        nodes = [NodeProcess("robot_dog.safety.node", namespace, root / "safety.log"),
                 NodeProcess("sim.node", namespace, root / "sim.log", remaps={"/clock": f"{namespace}/clock"},
                             mode="policy", scenario=SCENARIO, render=False, street_audio=False,
                             publish_clock=True),
                 NodeProcess("robot_dog.patrol.node", namespace, root / "patrol.log",
                             scenario=SCENARIO, patrol_at_start=False, speed=SPEED)]
        station = Station(StationConfig(broker.host, broker.port, root / "st.db", 0,
                                        fleet_dir=broker.fleet.root)).start()
        spawn_uplink(children, broker, "dog1", namespace, root)
        probe = RosProbe(namespace)
        record_the_dog(probe)      # odom, estop, motion/state, base/state (and cmd_vel)
        probe.record(GoalState, "patrol/goal", qos.STATE)
        api = Api(station.http.port, api_token(station.accounts, CHIEF, role="commander"))
        stack = Stack(broker, station, api, probe, CountingOperator(api, station, probe), nodes,
                      probe.node.create_publisher(SoundEvent, "microphone/events", qos.COMMAND))
        wait_for(lambda: probe.messages("odom"), "the simulated dog's odometry", timeout_s=120.0)
        yield stack
    finally:
        if station is not None:
            station.stop()
        for node in reversed(nodes):
            node.kill()
        children.reap()
        if probe is not None:
            probe.close()
        broker.stop()
        for node in nodes:
            if "Traceback" in node.output():
                print(f"   {node.log.name}:\n{node.output()[-2000:]}", flush=True)


@dataclass
class Walk:
    """One goal walked to its end, sent again after each lapse the operator recovered."""
    outcome: str = ""
    lapses: int = 0
    sent_at: float = 0.0              # monotonic: the first send answered
    ended_at: float = 0.0             # monotonic: the ending heard on patrol/goal
    sim_s: float = math.nan
    wall_s: float = math.nan
    left_m: float = math.nan
    waiting_s: float = 0.0            # wall s the goal waited for the operator's Resume
    path: list[tuple[float, float]] = field(default_factory=list)


def ending(stack: Stack, kind: str, since: float) -> tuple[float, Any] | None:
    """The first ending of a goal of `kind` (navigate_to, follow_route) heard since `since`."""
    return next(((t, m) for t, m in stack.timed("patrol/goal", since)
                 if m.label.startswith(kind) and m.state in ENDINGS), None)


def walk(stack: Stack, kind: str, send: Callable[[Walk], None], target: tuple[float, float]) -> Walk:
    """`send` the goal and wait for its end; after a lapse of the station's check-ins ended it
    (`estop`), wait for the operator's recovery and `send` again."""
    done = Walk()
    for _ in range(TRIES):
        asked = time.monotonic()
        send(done)
        done.sent_at = done.sent_at or time.monotonic()
        heard = wait_for(lambda asked=asked: stack.operator() or ending(stack, kind, asked),
                         f"the end of {kind}", timeout_s=300.0)
        done.outcome, done.ended_at = heard[1].state, heard[0]
        if done.outcome != "estop":
            break
        done.lapses += 1
        wait_for(stack.operator.dog_free, "the operator's recovery", timeout_s=120.0)
    start_sim, _ = stack.sim_at(done.sent_at)
    end_sim, here = stack.sim_at(done.ended_at)
    done.sim_s, done.wall_s = end_sim - start_sim, done.ended_at - done.sent_at
    done.left_m = math.dist(here, target)
    done.path = [xy(m) for t, m in stack.timed("odom", done.sent_at) if t <= done.ended_at]
    done.waiting_s = waited(stack, kind, done.sent_at, done.ended_at)
    return done


def waited(stack: Stack, kind: str, since: float, until: float) -> float:
    """Wall seconds a goal of `kind` said `waiting` between `since` and `until` (patrol/goal is
    published on every change of state, so each wait's start and end are heard as they happen)."""
    total, began = 0.0, None
    for t, m in stack.timed("patrol/goal", since):
        if t > until or not m.label.startswith(kind):
            continue
        if m.state == "waiting" and began is None:
            began = t
        elif m.state != "waiting" and began is not None:
            total, began = total + t - began, None
    return total


def cross_track(path: list[tuple[float, float]], line: list[tuple[float, float]]) -> list[float]:
    """Each pose's distance from the polyline `line`."""
    return [min(segment_distance(p, a, b) for a, b in zip(line, line[1:])) for p in path]


def segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by), (px, py) = a, b, p
    length2 = (bx - ax) ** 2 + (by - ay) ** 2
    s = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length2))
    return math.dist(p, (ax + s * (bx - ax), ay + s * (by - ay)))


def the_alarm(stack: Stack) -> tuple[float, str, float]:
    """Publish the microphone's glass break; (wall time sent, the event's id at the station,
    seconds until the station stored it)."""
    from robot_dog_interfaces.msg import SoundEvent
    before = {e["id"] for e in stack.api.get("/api/dogs/dog1/events")["events"]}
    sent = time.time()
    stack.microphone.publish(SoundEvent(kind="glass_break", peak_dbfs=-3.0, confidence=0.95))
    event = wait_for(lambda: next((e for e in stack.api.get("/api/dogs/dog1/events")["events"]
                                   if e["type"] == "sound" and e["id"] not in before), None),
                     "the alarm at the station", timeout_s=60.0, interval_s=0.02)
    return sent, event["id"], time.time() - sent


def one_incident(stack: Stack) -> dict[str, object]:
    api, operator = stack.api, stack.operator
    # the dispatcher's deliberate act the restart interlock asks for: patrol starts paused
    wait_for(lambda: operator() or api.command("dog1", "resume", {"input": "patrol"})[1]
             .get("result", {}).get("code") == "ok", "the station's resume", timeout_s=120.0)
    wait_for(operator.dog_free, "the dog standing", timeout_s=120.0)
    start = xy(stack.probe.messages("odom")[-1])
    alarm_sent, alarm_id, alarm_s = the_alarm(stack)
    incident: dict[str, str] = {}

    def dispatch(done: Walk) -> None:
        target = {"x": TARGET[0], "y": TARGET[1]}
        if not incident:          # Dispatch + Confirm on the alarm: one request
            status, body = api.post("/api/incidents/respond", {
                "dog": "dog1", "target": target, "officer": OFFICER, "what": "glass break at the shops",
                "alarm": {"dog": "dog1", "event": alarm_id}})
            assert status == 200, body
            incident["id"] = body["incident"]["id"]
        else:                     # after a lapse: the dog sent again from the incident
            status, body = api.post(f"/api/incidents/{incident['id']}/dogs", {"dog": "dog1", "target": target})
            assert status == 200, body

    goto = walk(stack, "navigate_to", dispatch, TARGET)
    timeline: list[dict[str, Any]] = []
    if goto.outcome == "arrived":
        timeline = wait_for(lambda: (t := api.get(f"/api/incidents/{incident['id']}")["timeline"]) and any(
            e["kind"] == "dog_event" and e["data"].get("state") == "arrived" for e in t) and t,
            "the arrival in the timeline", timeout_s=60.0, interval_s=0.05)
    arrival = next((e["at"] for e in timeline if e["kind"] == "dog_event" and e["data"].get("state") == "arrived"),
                   math.nan)
    goto_cross = cross_track(goto.path, [start, TARGET])

    # the route with turns, from where the dog arrived
    wait_for(operator.dog_free, "the dog standing", timeout_s=120.0)
    route_start = xy(stack.probe.messages("odom")[-1])

    walked = [0]                  # waypoints of ROUTE passed by the goals a lapse ended

    def patrol(done: Walk) -> None:
        if done.lapses:           # on from the waypoint the ended goal was heading for
            last = [m for _, m in stack.timed("patrol/goal", done.sent_at)
                    if m.label.startswith("follow_route") and m.state in ("active", "waiting")]
            walked[0] += last[-1].waypoint_index if last else 0
        left = ROUTE[walked[0]:]
        status, body = api.command("dog1", "patrol", {"route": "waypoints", "waypoints": [list(p) for p in left],
                                                      "loop": False})
        assert status == 200 and body["result"]["code"] == "ok", body

    route = walk(stack, "follow_route", patrol, ROUTE[-1])
    route_cross = cross_track(route.path, [route_start, *ROUTE])
    return {
        "alarm_to_station_s": round(alarm_s, 3),
        "incident_goto_outcome": goto.outcome,
        "incident_wall_alarm_to_arrival_in_timeline_s": round(arrival - alarm_sent, 2),
        "incident_sim_dispatch_to_arrival_s": round(goto.sim_s, 2),
        "incident_wall_dispatch_to_arrival_s": round(goto.wall_s, 2),
        "incident_waiting_for_resume_s": round(goto.waiting_s, 2),
        "incident_distance_left_m": round(goto.left_m, 3),
        "incident_cross_track_p95_m": round(percentile(goto_cross, 0.95), 3),
        "incident_timeline": " > ".join(f"{e['kind']}" + (f":{e['data'].get('state') or e['data'].get('status')}"
                                                          if e["kind"] in ("dog_event", "unit_status") else "")
                                        for e in timeline),
        "route_outcome": route.outcome,
        "route_length_m": round(sum(math.dist(a, b) for a, b in zip([route_start, *ROUTE], ROUTE)), 1),
        "route_sim_s": round(route.sim_s, 2),
        "route_wall_s": round(route.wall_s, 2),
        "route_waiting_for_resume_s": round(route.waiting_s, 2),
        "route_distance_left_m": round(route.left_m, 3),
        "route_cross_track_p95_m": round(percentile(route_cross, 0.95), 3),
        "route_cross_track_max_m": round(max(route_cross, default=math.nan), 3),
        "route_odom_samples": len(route_cross),
        "goals_ended_by_lapses": goto.lapses + route.lapses,
        "operator_actions": operator.acted,
        "operator_releases": operator.released,
        "operator_resumes": operator.resumed,
    }


def run() -> dict[str, object]:
    out: dict[str, object] = {"load_1min_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-incident-stack-") as root:
        with full_stack(Path(root)) as stack:
            out.update(one_incident(stack))
    out["load_1min_at_end"] = round(os.getloadavg()[0], 2)
    return out
