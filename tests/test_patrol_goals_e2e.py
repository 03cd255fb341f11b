"""Navigation goals end to end: patrol_node, safety_node and the echo base as real processes, an
action client in this process. A point 6 m away is reached within 0.5 m through the safety
mux; an e-stop halfway ends the goal and after the release the dog stays where it stopped;
bad goals are refused with codes before anything moves; a second goal pre-empts the first; an
officer's handheld (teleop_node and a scripted page over TLS) takes over a running goal at once.
The same with the simulated dog and the station: test_dispatch_sim_e2e.py."""
from __future__ import annotations

import math
import threading
import time
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

        self.matched: set = set()

    def send(self, action, **fields):
        client = self.clients[action]
        assert client.wait_for_server(timeout_sec=60), "no action server"
        self._match(action)
        handle = self._answer(client.send_goal_async(
            action.Goal(**fields), feedback_callback=lambda f: self.feedback.append(f.feedback)), 30)
        assert handle is not None, "goal not answered"
        assert handle.accepted
        return handle

    def _match(self, action) -> None:
        """`wait_for_server` sees the server's request reader, but the server may not yet have
        matched this client's response reader: Fast DDS waits 100 ms for it, then drops the
        answer (a goal sent that way under a loaded CI went unanswered for 30 s). A goal the
        server refuses before anything moves (x NaN), sent until one is answered and its result
        read, matches both answer paths without moving the dog."""
        if action in self.matched:
            return
        client, end = self.clients[action], time.monotonic() + 60
        bad = (action.Goal(frame="odom", x=math.nan, y=0.0) if action is NavigateTo
               else action.Goal(frame="odom", waypoints=[math.nan, 0.0]))
        while (handle := self._answer(client.send_goal_async(bad), 3)) is None:
            assert time.monotonic() < end, "the action server never answered a goal"
        assert self.result(handle).outcome == "refused"
        self.matched.add(action)

    @staticmethod
    def _answer(future, timeout_s: float):
        answered = threading.Event()
        future.add_done_callback(lambda _f: answered.set())
        return future.result() if answered.wait(timeout_s) else None

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


def test_a_second_goal_preempts_the_first_and_is_walked_instead(patrol, ros_probe):
    probe = ros_probe
    probe.record(GoalState, "patrol/goal", qos.STATE)
    start(probe)
    goals = Goals(probe)
    first = goals.send(NavigateTo, frame="odom", x=8.0, y=0.0)
    wait_for(lambda: pose(probe)[0] > 1.5, "the first goal under way")
    second = goals.send(NavigateTo, frame="odom", x=1.0, y=2.0)
    result = goals.result(first)
    assert (result.outcome, result.detail) == ("preempted", "pre-empted by navigate_to odom"), result
    assert goals.result(second).outcome == "arrived"
    assert math.dist(pose(probe), (1.0, 2.0)) <= 0.6
    targets = [(m.target_x, m.target_y) for m in probe.messages("patrol/goal") if m.state == "active"]
    assert targets[0] == (8.0, 0.0) and targets[-1] == (1.0, 2.0), targets


class Thumb(threading.Thread):
    """The officer's thumb on a scripted handheld page: every 0.1 s a drive frame while `x` is set
    (the stick's forward axis, -1..1), else a beat (a paired page that goes quiet for 0.5 s is a
    lost phone, and the dog stops); what the dog sends is read in between. One thread does
    both: the threaded websockets client must not send and read from two (test_teleop_server)."""

    def __init__(self, phone) -> None:
        super().__init__(daemon=True)
        self.phone, self.x = phone, None
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 (kept for the test to raise)
            self.error = exc

    def leave(self) -> None:
        """The officer is done: stop, leave the e-stop watch, end the thread."""
        self.done.set()
        self.join(10)
        assert not self.is_alive() and self.error is None, self.error

    def _run(self) -> None:
        driving = False
        while not self.done.is_set():
            x = self.x
            if x is not None:
                if not driving:     # the thumb lands at the centre (the interlock's neutral)
                    self.phone.send("drive", x=0.0, z=0.0)
                self.phone.send("drive", x=x, z=0.0)
            elif driving:
                self.phone.send("stop")     # the thumb lifted: the page's deadman
            else:
                self.phone.send("beat")
            driving = x is not None
            end = time.monotonic() + 0.1
            while (left := end - time.monotonic()) > 0:
                try:
                    self.phone.ws.recv(timeout=left)
                except TimeoutError:
                    break
        self.phone.send("stop")
        self.phone.send("leave")            # leaves the e-stop watch cleanly: no lost phone


@pytest.fixture
def handheld(dog_namespace, tmp_path):
    """teleop_node with a certificate of a fleet of its own, and its port."""
    from robot_dog import fleet
    from robot_dog.teleop.certs import issue_teleop_cert
    from tests.support import free_port
    root = tmp_path / "fleet"
    fleet.init_fleet(root, ["dog1"], broker=fleet.BrokerSettings(port=free_port()))
    cert, key = issue_teleop_cert(root, "dog1")
    port = free_port()
    node = NodeProcess("robot_dog.teleop.node", dog_namespace, tmp_path / "teleop.log",
                       port=port, cert_file=cert, key_file=key)
    try:
        wait_for(lambda: "handheld page on https://" in node.output(), "the handheld server")
        yield port, fleet.FleetPaths(root).ca_cert
    finally:
        node.kill()


def winner(probe) -> str:
    states = probe.messages("motion/state")
    return states[-1].winner if states else ""


def test_a_handheld_takes_over_a_running_goal_at_once(patrol, handheld, ros_probe, dog_namespace):
    """An officer drives the dog back from the handheld while a goal runs: the mux passes the
    handheld, the dog follows it (backwards, against the goal) and the goal waits without
    driving; after the officer lets go the goal waits for `motion/resume` (the restart
    interlock), then walks on and arrives."""
    import ssl
    from types import SimpleNamespace

    from geometry_msgs.msg import Twist
    from robot_dog_interfaces.msg import MotionState

    from tests.test_teleop_handheld_e2e import pairing_code
    from tests.test_teleop_server import Phone
    probe = ros_probe
    port, ca = handheld
    for msg_type, topic, profile in ((GoalState, "patrol/goal", qos.STATE), (Twist, "cmd_vel", qos.COMMAND),
                                     (Twist, "patrol/cmd_vel", qos.COMMAND),
                                     (MotionState, "motion/state", qos.STATE)):
        probe.record(msg_type, topic, profile)
    start(probe)
    phone = Phone(SimpleNamespace(port=port), ssl.create_default_context(cafile=str(ca)))
    phone.send("pair", code=pairing_code(dog_namespace))
    phone.expect("paired")
    thumb = Thumb(phone)
    thumb.start()
    try:
        wait_for(lambda: "handheld" in probe.messages("estop")[-1].endpoints
                 and not probe.messages("estop")[-1].engaged, "the handheld on the e-stop watch")
        goals = Goals(probe)
        handle = goals.send(NavigateTo, frame="odom", x=8.0, y=0.0)
        wait_for(lambda: pose(probe)[0] > 2.0, "the goal under way")
        thumb.x = -0.5                                       # the officer pulls the stick back
        wait_for(lambda: winner(probe) == "handheld", "the handheld winning")
        taken = time.monotonic()
        farthest = max(p.pose.pose.position.x for p in probe.messages("odom"))
        wait_for(lambda: pose(probe)[0] < farthest - 1.0, "the dog walking back with the handheld")
        assert [m.state for m in probe.messages("patrol/goal", since=taken)][-1] == "waiting"
        assert goals.feedback[-1].waiting
        # what reached the base meanwhile was the handheld's, never the goal's forward command
        assert all(m.linear.x < 0.01 for m in probe.messages("cmd_vel", since=taken + 0.5))
        thumb.x = None                                       # lets go, and signs off
        wait_for(lambda: winner(probe) != "handheld", "the handheld let go")
        thumb.leave()
        let_go = time.monotonic()
        stopped = pose(probe)
        time.sleep(2.0)      # the goal still runs, yet the patrol input waits for a resume
        assert math.dist(pose(probe), stopped) < 0.05
        assert probe.messages("patrol/goal", since=let_go)[-1].state == "waiting"
        assert probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station").accepted
        result = goals.result(handle)
        assert result.outcome == "arrived", result
        assert math.dist(pose(probe), (8.0, 0.0)) <= 0.6
    finally:
        thumb.done.set()
        thumb.join(10)
        phone.ws.close()
    assert thumb.error is None, thumb.error
