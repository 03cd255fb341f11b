"""sim_node in its own process (kinematic mode, rendered bodycam, virtual MCU on a pty), driven
and observed over real rclpy from this process; payload_node on the simulator's MCU for the
light bar test."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from robot_dog_interfaces.srv import SetPoliceLight
from sensor_msgs.msg import Image, Imu, JointState, NavSatFix

from robot_dog.ros import qos
from robot_dog.bodycam.sources import image_from_msg
from sim.robot import JOINTS_MODEL
from sim.scenario import load_scenario
from tests.fixtures.firmware import PayloadNodeProcess
from tests.fixtures.processes import unique_namespace
from tests.fixtures.ros_nodes import NodeProcess, RosNode, answer

pytestmark = pytest.mark.slow


NS = unique_namespace()  # this run's own: two runs on one machine never share a dog

# sim_node winds down physics and renderer: more time than the default before SIGKILL
SIM_STOP_S = 15.0


class Observer(RosNode):
    def __init__(self) -> None:
        super().__init__("sim_test", NS)
        self.cmd = self.node.create_publisher(Twist, "cmd_vel", qos.COMMAND)
        self.light = self.node.create_client(SetPoliceLight, "police_light/set")
        self.got: dict[str, list] = {k: [] for k in ("odom", "imu", "joints", "fix", "image", "diag")}
        sub = self.node.create_subscription
        sub(Odometry, "odom", self.got["odom"].append, qos.TELEMETRY)
        sub(Imu, "imu/data", self.got["imu"].append, qos.SENSOR)
        sub(JointState, "joint_states", self.got["joints"].append, qos.TELEMETRY)
        sub(NavSatFix, "fix", self.got["fix"].append, qos.TELEMETRY)
        sub(Image, "camera/image_raw", self.got["image"].append, qos.SENSOR)
        sub(DiagnosticArray, "/diagnostics", self.got["diag"].append, qos.TELEMETRY)

    def spin_until(self, predicate, timeout: float, what: str, every=None) -> None:
        if not self.spinning(predicate, timeout, every):
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def spinning(self, predicate, timeout: float, every=None) -> bool:
        """Spin until `predicate()`; whether it came within `timeout` s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if every is not None:
                every()
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def drive(self, vx: float, wz: float = 0.0) -> None:
        msg = Twist()
        msg.linear.x, msg.angular.z = vx, wz
        self.cmd.publish(msg)


@pytest.fixture
def observer() -> Iterator[Observer]:
    obs = Observer()
    yield obs
    obs.close()


@pytest.fixture
def sim(tmp_path) -> Iterator[NodeProcess]:
    node = NodeProcess("sim.node", NS, tmp_path / "sim.log", mode="kinematic", scenario="plaza_day",
                       mcu_link=str(tmp_path / "mcu"), camera_fps=10.0)
    yield node
    node.kill(timeout=SIM_STOP_S)
    assert "Traceback" not in node.output(), node.output()


def test_base_interfaces_follow_cmd_vel_and_refuse_nan(sim, observer):
    obs = observer
    obs.spin_until(lambda: obs.got["odom"] and obs.got["fix"] and obs.got["joints"] and obs.got["imu"],
                   90, "odom, fix, joint_states and imu/data from sim_node")
    odom = obs.got["odom"][-1]
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
    assert list(obs.got["joints"][-1].name) == list(JOINTS_MODEL)
    assert obs.got["imu"][-1].linear_acceleration.z == pytest.approx(9.81, abs=0.01)
    origin = load_scenario("plaza_day").geo_origin
    fix = obs.got["fix"][-1]
    assert fix.latitude == pytest.approx(origin.latitude, abs=1e-5)
    assert fix.longitude == pytest.approx(origin.longitude, abs=1e-5)

    x0 = obs.got["odom"][-1].pose.pose.position.x
    obs.spin_until(lambda: obs.got["odom"][-1].pose.pose.position.x > x0 + 1.0, 30,
                   "the dog to walk 1 m on cmd_vel 0.5 m/s", every=lambda: obs.drive(0.5))
    assert obs.got["odom"][-1].twist.twist.linear.x == pytest.approx(0.5)
    x1 = obs.got["fix"][-1].longitude
    assert x1 > origin.longitude   # walked east: the fix follows

    # NaN: refused with a log line, and the dog stands at once (not after the command times out)
    obs.spin_until(lambda: obs.got["odom"][-1].twist.twist.linear.x == 0.0, 10,
                   "the dog to stand after a NaN command", every=lambda: obs.drive(math.nan))
    obs.spin_until(lambda: "cmd_vel refused" in sim.output(), 10, "the refusal in the log")
    assert "not a finite number" in sim.output()
    obs.spin_until(lambda: obs.got["odom"][-1].twist.twist.linear.x > 0.4, 10,
                   "walking again", every=lambda: obs.drive(0.5))
    obs.spin_until(lambda: obs.got["odom"][-1].twist.twist.linear.x == 0.0, 10,
                   "standing after a huge command", every=lambda: obs.drive(1e9))
    obs.spin_until(lambda: "exceeds the robot's limit" in sim.output(), 10, "the refusal in the log")
    obs.spin_until(lambda: obs.got["diag"], 10, "the simulator's diagnostics")
    status = obs.got["diag"][-1].status[0]
    assert status.name == "sim: simulator" and status.hardware_id == "mujoco-sim:plaza_day"
    assert {v.key for v in status.values} == {"real_time_factor", "camera_fps"}


def head_pixels(image: np.ndarray) -> tuple[float, float]:
    """Share of strongly red pixels where the red head is, of strongly blue where the blue is."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    red = (r > 150) & (g < 80) & (b < 80)
    blue = (b > 150) & (r < 100) & (b > g + 60)
    left, right = (slice(320, 400), slice(190, 300)), (slice(320, 400), slice(340, 450))
    return float(red[left].mean()), float(blue[right].mean())


def test_bodycam_shows_the_flashing_light_bar_after_police_light_set(sim, observer, tmp_path):
    obs = observer
    payload = PayloadNodeProcess(tmp_path / "mcu", tmp_path / "payload.log", NS, crowd_mode=True)
    try:
        obs.spin_until(lambda: len(obs.got["image"]) >= 2, 90, "rendered frames on camera/image_raw")
        msg = obs.got["image"][-1]
        assert (msg.width, msg.height, msg.encoding) == (640, 480, "bgr8")
        frame = image_from_msg(msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data))
        assert head_pixels(frame) == (0.0, 0.0)   # light bar dark before the command

        assert obs.light.wait_for_service(timeout_sec=60), payload.output()
        reply = answer(obs.light, SetPoliceLight.Request(pattern="alternate", rate_hz=1.1,
                                                         duration_s=30.0), obs.spinning, 30.0)
        assert reply.accepted, reply.message
        # 1.1 Hz: an alternation rate that no plausible render rate samples at one phase only.
        obs.got["image"].clear()
        seen = {"red": 0, "blue": 0}
        shares: list[tuple[float, float]] = []

        def both_seen() -> bool:
            while obs.got["image"]:
                m = obs.got["image"].pop()
                image = image_from_msg(m.encoding, m.width, m.height, m.step, bytes(m.data))
                red, blue = head_pixels(image)
                shares.append((round(red, 2), round(blue, 2)))
                seen["red"] += red > 0.5 and blue < 0.05
                seen["blue"] += blue > 0.5 and red < 0.05
            return seen["red"] >= 1 and seen["blue"] >= 1
        try:
            obs.spin_until(both_seen, 60, "red and blue heads alternating in the frames")
        except AssertionError:
            raise AssertionError(f"head shares per frame: {shares[-20:]}; {sim.output()[-2000:]}") from None
    finally:
        payload.kill()


def test_walking_dog_drives_a_square_on_cmd_vel_and_comes_back(tmp_path, observer):
    """The gait, end to end over ROS: sim_node in policy mode at 2x real time; this process
    drives a 1 m square on cmd_vel as a driver would (walk 1 m holding the heading, turn left to
    the next side's heading) from odom, and checks from odom that the dog came back near its
    start, upright."""
    node = NodeProcess("sim.node", NS, tmp_path / "sim.log", mode="policy", render=False,
                       real_time_factor=2.0)
    obs = observer
    try:
        obs.spin_until(lambda: obs.got["odom"], 90, "odom from the walking sim_node")
        start = obs.got["odom"][-1].pose.pose
        yaw0 = yaw_of(start.orientation)
        leg = {"n": 0, "from": (start.position.x, start.position.y), "turning": False}
        farthest = 0.0

        def command() -> None:
            nonlocal farthest
            pose = obs.got["odom"][-1].pose.pose
            x, y = pose.position.x, pose.position.y
            farthest = max(farthest, math.hypot(x - start.position.x, y - start.position.y))
            side = leg["n"]
            heading = yaw0 + side * math.pi / 2 + (math.pi / 2 if leg["turning"] else 0.0)
            error = math.remainder(heading - yaw_of(pose.orientation), math.tau)
            wz = max(-1.0, min(1.0, 2.0 * error))
            if leg["turning"]:
                if abs(error) < 0.04:
                    leg.update(n=side + 1, turning=False, **{"from": (x, y)})
                obs.drive(0.0, wz if abs(wz) > 0.25 else math.copysign(0.25, wz))
            elif math.hypot(x - leg["from"][0], y - leg["from"][1]) >= 1.0:
                leg["turning"] = True
                obs.drive(0.0, 0.0)
            else:
                obs.drive(0.5, wz)
        obs.spin_until(lambda: leg["n"] >= 4, 150, "the square to be driven", every=command)
        obs.drive(0.0, 0.0)
    finally:
        node.kill(timeout=SIM_STOP_S)
    end = obs.got["odom"][-1].pose.pose.position
    closure = math.hypot(end.x - start.position.x, end.y - start.position.y)
    assert farthest > 0.9, "the dog did not walk the square"
    assert end.z > 0.2, "the trunk is down: the dog fell"
    assert closure < 0.5, f"ended {closure:.2f} m from the start"
    assert "Traceback" not in node.output(), node.output()


def yaw_of(q) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
