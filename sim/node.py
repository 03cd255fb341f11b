"""sim_node: the simulated dog as a base driver and a camera (the same interfaces as hardware).

Subscribes `cmd_vel` (geometry_msgs/Twist; non-finite or beyond-limit commands are refused with
a log line and the dog stands); serves `base/set_mode` (SetBaseMode: stand, sit, damp, with the
echo base's rules: no sit or damp while moving; out of stand the dog holds still and refuses
`cmd_vel`) and publishes the latched `base/state` (BaseState), the interface safety_node forwards
to; publishes `odom` (nav_msgs/Odometry, odom -> base_link, REP 105),
`imu/data`, `joint_states`, `fix` (sensor_msgs/NavSatFix from the scenario's geo origin),
`/clock` when `publish_clock` is set (every stamp is then sim time, diagnostics included), the
rendered bodycam `camera/image_raw` (bgr8) with `camera/camera_info` (its true intrinsics, same
stamp), and the head's laser scan `scan` (sensor_msgs/LaserScan, MuJoCo ray casts). The TF tree:
`/tf` (odom -> base_link from the odometry, the legs from the joint angles), `/tf_static` (the
sensor and payload frames) and `robot_description` (URDF), all derived from the MuJoCo model
(sim.description). Covariances come from the noise model (sim.noise); with `realistic` (or the
scenario's `realistic: true`) the readings carry that noise and the odometry drifts.
Health goes to `/diagnostics` with the simulator as hardware_id.
Runs the virtual payload MCU on `mcu_link` (the pty payload_node opens) and draws its lights, and
with `link_upstream_port` the MQTT link-fault proxy the scenario's mqtt_* faults act on.
With `street_audio` it plays the scenario's sounds, mixed at the dog's position and paced to sim
time, into the street sink the microphone node records (`virtual_audio` starts or reuses the
virtual PulseAudio devices); without a device it says so once and runs silent.
Behaviour lives in sim.core / sim.runner; this file wires parameters, QoS and topics.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node
from robot_dog_interfaces.msg import BaseState as BaseStateMsg
from robot_dog_interfaces.srv import SetBaseMode
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState, LaserScan, NavSatFix
from std_msgs.msg import Header, String
from tf2_msgs.msg import TFMessage

from robot_dog.base.echo import EchoBase
from robot_dog.errors import Refused, answer
from robot_dog.ros import camera_info, frames, qos
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from sim import messages
from sim import robot as R
from sim.core import MODES, BaseState, VelocityRejected, SimWorld, check_command
from sim.description import describe, moving_transforms, static_transforms, to_urdf
from sim.geo import to_geodetic
from sim.health import assess
from sim.laser import LaserConfig, LaserScanner
from sim.model import CONTROL_DT
from sim.noise import NoiseModel, SensorNoise
from sim.runner import RunnerConfig, SimRunner
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.street_audio import StreetMix
from sim.street_player import StreetPlayer

FIX_EVERY = 10   # control ticks per NavSatFix (5 Hz)


class SimNode(Node):
    # Its images need the 8 MB shared-memory segment (robot_dog/ros/dds_env.py).
    PUBLISHES_IMAGES = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "sim"), **kwargs)
        p = partial(declare_read_only, self)
        scenario_name = p("scenario", "plaza_day", "scenario name (sim/scenarios) or YAML path")
        mode = p("mode", "policy", f"locomotion: {' | '.join(MODES)}")
        config = RunnerConfig(
            real_time_factor=p("real_time_factor", 1.0, "sim s per wall s; 0 = as fast as possible"),
            render=p("render", True, "render the bodycam (needs EGL or OSMesa)"),
            camera_fps=p("camera_fps", 15.0, "bodycam frame rate, Hz"),
            width=p("width", 640, "bodycam width, px"), height=p("height", 480, "bodycam height, px"),
            mcu_link=p("mcu_link", "", "pty symlink for the virtual payload MCU; empty = none"),
            link_upstream_port=p("link_upstream_port", 0,
                                 "broker port behind the MQTT link-fault proxy; 0 = no proxy"),
            link_port=p("link_port", 0, "the link proxy's port on 127.0.0.1 (point the uplink here)"))
        self.publish_clock = p("publish_clock", False, "publish /clock (sim time) for use_sim_time")
        self.camera_frame = p("camera_frame_id", frames.BODYCAM_OPTICAL, "TF frame of the bodycam")
        realistic = p("realistic", False, "sensor noise and odometry drift (else the scenario's "
                                          "`realistic` setting)")
        laser = p("laser", True, "simulate the head's laser scanner (`scan`)")
        self.frame_prefix = p("frame_prefix", "", "before every frame this node names, e.g. dog1/ "
                                                  "(several dogs on one /tf); empty = none")
        try:
            scenario = load_scenario(scenario_name)
        except ScenarioError as exc:
            self.get_logger().fatal(str(exc))
            raise
        self.origin = scenario.geo_origin
        self.world = SimWorld(scenario, mode)
        self.noise = NoiseModel()
        self.sensors = SensorNoise(self.noise, realistic or scenario.realistic, scenario.seed)
        self.description = describe(self.world.model)
        self.laser = LaserScanner(self.world.model, LaserConfig()) if laser else None
        self.scan_every = max(1, round(1.0 / (LaserConfig().rate_hz * CONTROL_DT)))
        self.tf_pub = self.create_publisher(TFMessage, "/tf", qos.TF)
        self.tf_static_pub = self.create_publisher(TFMessage, "/tf_static", qos.LATCHED)
        self.description_pub = self.create_publisher(String, "robot_description", qos.LATCHED)
        self.scan_pub = self.create_publisher(LaserScan, "scan", qos.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos.SENSOR)
        self.camera = camera_info.from_fovy(config.width, config.height,
                                            float(self.world.model.cam_fovy[self.world.model.camera(R.BODYCAM).id]))
        self.odom_pub = self.create_publisher(Odometry, "odom", qos.TELEMETRY)
        self.imu_pub = self.create_publisher(Imu, "imu/data", qos.SENSOR)
        self.joint_pub = self.create_publisher(JointState, "joint_states", qos.TELEMETRY)
        self.fix_pub = self.create_publisher(NavSatFix, "fix", qos.TELEMETRY)
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos.SENSOR)
        self.clock_pub = self.create_publisher(Clock, "/clock", qos.TELEMETRY) if self.publish_clock else None
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos.TELEMETRY)
        self.create_subscription(Twist, "cmd_vel", self._on_cmd_vel, qos.COMMAND)
        # Posture rules of the base interface (robot_dog.base.echo): it tracks what is commanded,
        # the world does the walking.
        self.posture = EchoBase()
        self.posture_lock = threading.Lock()
        self.state_pub = self.create_publisher(BaseStateMsg, "base/state", qos.STATE)
        self.create_service(SetBaseMode, "base/set_mode", self._on_set_mode)
        self.create_timer(0.1, self._check_moving)
        self._published_state = ("", False)
        self.config = config
        self._last = (time.monotonic(), 0.0, 0)   # wall s, sim s, frames at the last report
        self.create_timer(1.0, self._publish_health)
        self.ticks = 0
        self.refusal: tuple[str, float] = ("", 0.0)
        self._publish_description()
        self.runner = SimRunner(self.world, config, self._guarded(self._publish_state),
                                self._guarded(self._publish_frame))
        self.runner.start()
        self.street = self._start_street_audio(
            scenario, p("street_audio", True, "play the scenario's sounds into the street sink"),
            p("virtual_audio", False, "start/reuse the virtual PulseAudio devices (no hardware)"))
        self.get_logger().info(
            f"scenario {scenario.name} ({scenario.path}), mode {mode}, "
            f"{'bodycam ' + str(config.width) + 'x' + str(config.height) if config.render else 'no bodycam'}"
            f"{', MCU on ' + config.mcu_link if config.mcu_link else ''}"
            f"{f', MQTT link proxy :{self.runner.link.port} -> :{config.link_upstream_port}' if self.runner.link else ''}")

    def _start_street_audio(self, scenario: Scenario, enabled: bool,
                            virtual: bool) -> StreetPlayer | None:
        if not enabled:
            return None
        from robot_dog.audio import devices
        from robot_dog.audio.pcm import FRAME_SAMPLES
        if virtual:
            try:
                devices.ensure_virtual_devices()
            except devices.AudioDeviceError as exc:
                self.get_logger().error(f"street audio off: virtual audio unavailable: {exc}")
                return None
        player = StreetPlayer(StreetMix(scenario, devices.RATE_HZ), self.runner.listener,
                              devices.STREET_SINK, FRAME_SAMPLES, log_error=self.get_logger().error)
        self.get_logger().info(f"street audio: {len(scenario.sounds)} sound(s) into "
                               f"{devices.STREET_SINK!r}")
        return player.start()

    def _on_cmd_vel(self, msg: Twist) -> None:
        try:
            command = check_command(msg.linear.x, msg.linear.y, msg.angular.z)
        except VelocityRejected as exc:
            self._refuse(str(exc))
            command = np.zeros(3)
        with self.posture_lock:
            problem = self.posture.command(*(float(v) for v in command), time.monotonic())
        if problem:
            self._refuse(problem)
            command = np.zeros(3)
        self.runner.command(command)
        self._publish_base_state()

    def _refuse(self, reason: str) -> None:
        # One line per new reason, then at most one a second: a stream of bad commands
        # must not flood the log, and a different fault must not hide behind the first.
        now = time.monotonic()
        if reason != self.refusal[0] or now - self.refusal[1] > 1.0:
            self.get_logger().warning(f"cmd_vel refused, standing still: {reason}")
            self.refusal = (reason, now)

    def _on_set_mode(self, request: SetBaseMode.Request,
                     response: SetBaseMode.Response) -> SetBaseMode.Response:
        self._check_moving()
        try:
            with self.posture_lock:
                self.posture.set_mode(request.mode, time.monotonic())
            if request.mode != "stand":
                self.runner.command(np.zeros(3))   # sit and damp hold the simulated base still
            answer(response, message=f"now {request.mode}")
        except Refused as exc:
            answer(response, exc)
        self.get_logger().info(f"mode {request.mode}: {response.code} {response.message}")
        self._publish_base_state(force=True)
        return response

    def _check_moving(self) -> None:
        """A command that expired in the world (COMMAND_TIMEOUT) stops the dog: moving is over."""
        with self.runner.lock:
            active = bool(np.any(self.world.active_command()))
        if not active:
            with self.posture_lock:
                self.posture.command(0.0, 0.0, 0.0, time.monotonic())
        self._publish_base_state()

    def _publish_base_state(self, force: bool = False) -> None:
        with self.posture_lock:
            state = (self.posture.mode, self.posture.moving)
            if state == self._published_state and not force:
                return
            self._published_state = state
        msg = BaseStateMsg(mode=state[0], moving=state[1])
        msg.header.stamp = self._stamp(self.world.time)
        self.state_pub.publish(msg)

    def _publish_health(self) -> None:
        now, sim_time, frames = time.monotonic(), self.world.time, self.runner.frames
        wall = max(now - self._last[0], 1e-6)
        health = assess((sim_time - self._last[1]) / wall, self.config.real_time_factor,
                        (frames - self._last[2]) / wall, self.config.camera_fps, self.config.render,
                        self.runner.renderer_error)
        self._last = (now, sim_time, frames)
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=bytes([health.level]), name=f"{self.get_name()}: simulator", message=health.message,
            hardware_id=f"mujoco-sim:{self.world.scenario.name}",
            values=[KeyValue(key=k, value=v) for k, v in health.values.items()])])
        array.header.stamp = self._stamp(sim_time)
        self.diag_pub.publish(array)

    def _guarded(self, publish: Callable[..., None]) -> Callable[..., None]:
        """Publishing from the runner's threads stops quietly once rclpy shuts down (Ctrl-C)."""
        def call(*args: Any) -> None:
            if not self.context.ok():
                return
            try:
                publish(*args)
            except RCLError:
                if self.context.ok():
                    raise
        return call

    def _stamp(self, sim_time: float) -> Time:
        """Sim time when /clock is published (the one time base of a clocked run), else now."""
        if self.publish_clock:
            return messages.stamp_of(sim_time)
        return self.get_clock().now().to_msg()

    def _framed(self, msg: Any) -> Any:
        return messages.with_frame_prefix(msg, self.frame_prefix)

    def _publish_description(self) -> None:
        """robot_description and /tf_static, latched: published once, kept for late joiners."""
        self.description_pub.publish(String(data=to_urdf(self.description)))
        stamp = self._stamp(self.world.time)
        self.tf_static_pub.publish(self._framed(messages.transforms(static_transforms(self.description), stamp)))

    def _publish_state(self, s: BaseState) -> None:
        stamp = self._stamp(s.time)
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=stamp))
        reading = self.sensors.read(s)
        self.odom_pub.publish(self._framed(messages.odometry(reading, self.noise, stamp)))
        self.imu_pub.publish(self._framed(messages.imu(s, reading, self.noise, stamp)))
        self.joint_pub.publish(messages.joint_state(s, stamp))
        legs = moving_transforms(self.description, dict(zip(R.JOINTS_MODEL, s.joint_position.tolist())))
        self.tf_pub.publish(self._framed(messages.transforms([messages.base_transform(reading), *legs], stamp)))
        self.ticks += 1
        if self.ticks % FIX_EVERY == 1:
            lat, lon, alt = to_geodetic(self.origin, *(float(v) for v in s.position))
            self.fix_pub.publish(self._framed(messages.fix(lat, lon, alt, self.noise, stamp)))
        if self.laser is not None and self.ticks % self.scan_every == 1:
            # From the physics thread, between steps: the world's data is this tick's.
            ranges = self.laser.scan(self.world.data)
            self.scan_pub.publish(self._framed(messages.laser_scan(ranges, self.laser.config, stamp)))

    def _publish_frame(self, frame: np.ndarray, sim_time: float) -> None:
        msg = Image(height=frame.shape[0], width=frame.shape[1], encoding="bgr8", is_bigendian=0,
                    step=frame.shape[1] * 3)
        msg.data = frame.tobytes()
        header = Header(stamp=self._stamp(sim_time), frame_id=self.frame_prefix + self.camera_frame)
        msg.header = header
        self.image_pub.publish(msg)
        self.info_pub.publish(camera_info.to_msg(self.camera, header))

    def close(self) -> None:
        if self.street is not None:
            self.street.stop()
        self.runner.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
