"""Navigation goals end to end: patrol_node, safety_node and the echo base as real processes, an
action client in this process. A point 6 m away is reached within 0.5 m through the safety
mux; an e-stop halfway ends the goal and after the release the dog stays where it stopped;
bad goals are refused with codes before anything moves."""
from __future__ import annotations

import math
import threading
from functools import partial

import pytest
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from robot_dog_interfaces.action import FollowRoute, NavigateTo
from robot_dog_interfaces.msg import EstopState, GoalState
from robot_dog_interfaces.srv import CancelGoal, EstopEngage, EstopRelease, MotionResume

from robot_dog.ros import qos
from tests import support
from tests.fixtures.ros_nodes import NodeProcess

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)


@pytest.fixture
def patrol(dog_namespace, tmp_path, safety_chain):
    node = NodeProcess("robot_dog.patrol.node", dog_namespace, tmp_path / "patrol.log",
                       patrol_at_start=False, speed=0.8, geo_origin="[31.23, 121.47, 0.0]")
    try:
        yield node
    finally:
        node.kill()


class Goals:
    def __init__(self, probe) -> None:
        self.probe = probe
        self.clients = {NavigateTo: ActionClient(probe.node, NavigateTo, "navigate_to"),
                        FollowRoute: ActionClient(probe.node, FollowRoute, "follow_route")}
        self.feedback: list = []

    def send(self, action, **fields):
        client = self.clients[action]
        assert client.wait_for_server(timeout_sec=60), "no action server"
        sent = client.send_goal_async(action.Goal(**fields),
                                      feedback_callback=lambda f: self.feedback.append(f.feedback))
        accepted = threading.Event()
        sent.add_done_callback(lambda _f: accepted.set())
        assert accepted.wait(30), "goal not answered"
        handle = sent.result()
        assert handle.accepted
        return handle

    @staticmethod
    def result(handle, timeout_s: float = 120.0):
        future = handle.get_result_async()
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        assert done.wait(timeout_s), "no result"
        return future.result().result


def pose(probe) -> tuple[float, float]:
    odom = probe.messages("odom")
    p = odom[-1].pose.pose.position
    return p.x, p.y


def start(probe):
    probe.record(Odometry, "odom", qos.TELEMETRY)
    probe.record(EstopState, "estop", qos.STATE)
    wait_for(lambda: probe.messages("odom") and probe.messages("estop"), "base and safety up")
    # the dispatcher's deliberate action: the patrol input starts paused (restart interlock)
    assert probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station").accepted


def test_a_point_six_metres_away_is_reached_and_bad_goals_are_refused(patrol, ros_probe):
    probe = ros_probe
    start(probe)
    goals = Goals(probe)
    for fields, code in ((dict(frame="odom", x=math.nan, y=0.0), "not_finite"),
                         (dict(frame="odom", x=500.0, y=0.0), "too_far"),
                         (dict(frame="map", x=1.0, y=0.0), "unknown_frame")):
        result = goals.result(goals.send(NavigateTo, **fields))
        assert (result.outcome, result.code) == ("refused", code), result
    assert math.dist(pose(probe), (0.0, 0.0)) < 0.05  # nothing moved
    result = goals.result(goals.send(NavigateTo, frame="odom", x=6.0, y=0.0))
    assert result.outcome == "arrived", result
    assert math.dist(pose(probe), (6.0, 0.0)) <= 0.6   # within tolerance, plus the last step
    lefts = [f.distance_left_m for f in goals.feedback if not f.waiting]
    assert lefts and lefts[0] > 5.0 and min(lefts) <= 0.5


def test_an_estop_halfway_ends_the_goal_and_a_release_does_not_resume_it(patrol, ros_probe):
    probe = ros_probe
    start(probe)
    goals = Goals(probe)
    # (31.23 N, 121.47 E) is odom's origin: a point 8 m east of it, given as latitude/longitude
    handle = goals.send(NavigateTo, frame="wgs84", x=31.23, y=121.47 + 8.0 / 95_300.0)
    wait_for(lambda: pose(probe)[0] > 2.0, "the dog under way")
    probe.call(EstopEngage, "estop/engage", endpoint="station", reason="test halfway")
    result = goals.result(handle)
    assert result.outcome == "estop", result
    stopped = pose(probe)
    assert 2.0 < stopped[0] < 7.5
    answer = probe.call(EstopRelease, "estop/release", endpoint="station")
    assert answer.accepted, answer
    wait_for(lambda: not probe.messages("estop")[-1].engaged, "released")
    import time
    time.sleep(3.0)  # a resumed goal would have moved the dog by 2 m in this time
    assert math.dist(pose(probe), stopped) < 0.1


def test_goal_state_for_everyone_a_cancel_by_anyone_and_return_home(patrol, ros_probe):
    """patrol/goal tells any listener (the uplink) what runs and how it ended, whoever sent it;
    patrol/cancel stops it where it is; `return` (FollowRoute "home") walks back to the start."""
    probe = ros_probe
    probe.record(GoalState, "patrol/goal", qos.STATE)
    start(probe)
    wait_for(lambda: probe.messages("patrol/goal"), "the idle state, latched")
    assert probe.messages("patrol/goal")[-1].state == "idle"
    idle = probe.call(CancelGoal, "patrol/cancel", endpoint="station")
    assert (idle.accepted, idle.code) == (False, "no_goal")
    goals = Goals(probe)
    handle = goals.send(NavigateTo, frame="odom", x=8.0, y=0.0)
    wait_for(lambda: any(m.state == "active" and m.label == "navigate_to odom" and m.target_x == 8.0
                         for m in probe.messages("patrol/goal")), "the goal active on patrol/goal")
    active = next(m for m in probe.messages("patrol/goal") if m.state == "active")
    assert list(active.waypoints) == [8.0, 0.0], "every waypoint of the work (here one)"
    assert list(probe.messages("patrol/goal")[0].waypoints) == [], "idle: none"
    # As an operator would: resume again if a stall of the freshly started patrol node lapsed
    # its input mid-drive (the interlock then pauses it; a loaded machine does that).
    wait_for(lambda: probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station")
             and pose(probe)[0] > 2.0, "the dog under way")
    answer = probe.call(CancelGoal, "patrol/cancel", endpoint="station")
    assert (answer.accepted, answer.code) == (True, "ok"), answer
    assert goals.result(handle).outcome == "cancelled"
    wait_for(lambda: probe.messages("patrol/goal")[-1].state == "cancelled", "the ending on patrol/goal")
    stopped = pose(probe)
    assert 2.0 < stopped[0] < 7.5
    home = goals.result(goals.send(FollowRoute, route="home"))
    assert home.outcome == "arrived", home
    assert math.dist(pose(probe), (0.0, 0.0)) <= 0.6
    states = [(m.label, m.state) for m in probe.messages("patrol/goal")]
    assert ("return home", "active") in states and states[-1] == ("return home", "arrived")
