"""The simulator's stepping core, no ROS: `SimWorld` holds the compiled model and controller
state; `step(world, command)` advances one control tick (CONTROL_DT = 20 ms of sim time) and
returns the base state read from the model's sensors by name.

Two modes behind the same interface:
- `policy`: MuJoCo physics (2.5 ms steps) with the ONNX walking policy at 50 Hz tracking the
  command through a joint PD loop: a real gait, feet on the ground.
- `kinematic`: the base follows the command exactly (no physics, legs in the stance): fast and
  deterministic, for CI and for machines where the stack, not the gait, is under test.

Commands: `check_command` refuses non-finite values and values beyond the robot's limits
(`VelocityRejected`, never clamped silently); a command holds for `COMMAND_TIMEOUT` s of sim time,
then the dog stands (zero velocity) until the next one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np


from robot_dog.errors import RobotDogError

from sim import robot as R
from sim.assets import robot_assets
from sim.model import CONTROL_DT, load_model
from sim.people import position_on_loop
from sim.policy import (ACTUATOR_TAU, COMMAND_SLEW, KD, KP, STANCE_MODEL, VelocityTrim,
                        WalkingPolicy)
from sim.scenario import Scenario

MODES = ("policy", "kinematic")
COMMAND_TIMEOUT = 0.5   # s of sim time a command holds before the dog stands


class VelocityRejected(RobotDogError, ValueError):
    """A velocity command the base refuses (non-finite, or beyond the robot's limits)."""


def check_command(vx: float, vy: float, wz: float) -> np.ndarray:
    """The command as an array, or VelocityRejected saying which value is wrong."""
    for name, value, limit in zip(("linear.x", "linear.y", "angular.z"), (vx, vy, wz), R.MAX_VELOCITY):
        if not math.isfinite(value):
            raise VelocityRejected(f"{name} is {value}: not a finite number")
        if abs(value) > limit:
            raise VelocityRejected(f"{name} = {value:g} exceeds the robot's limit {limit:g}")
    return np.array([vx, vy, wz], dtype=float)


@dataclass
class BaseState:
    """What a base driver reports. Frames (REP 103/105): position/orientation in the world (=odom)
    frame, x east, y north, z up; velocities and the IMU in the body frame (base_link)."""
    time: float                      # s of sim time
    position: np.ndarray             # m (trunk origin)
    orientation: np.ndarray          # quaternion w, x, y, z
    linear_velocity: np.ndarray      # m/s, body frame, of base_link (the trunk origin)
    angular_velocity: np.ndarray     # rad/s, body frame (gyro)
    specific_force: np.ndarray       # m/s^2, body frame (accelerometer: a - g)
    joint_position: np.ndarray       # rad, model order (sim.robot.JOINTS_MODEL)
    joint_velocity: np.ndarray       # rad/s
    joint_effort: np.ndarray         # N m

    @property
    def yaw(self) -> float:
        w, x, y, z = self.orientation
        return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@dataclass
class SimWorld:
    """The compiled world and everything that carries over from one tick to the next."""
    scenario: Scenario
    mode: str = "policy"
    model: mujoco.MjModel = field(init=False)
    data: mujoco.MjData = field(init=False)
    time: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        self.model = load_model(self.scenario)
        self.data = mujoco.MjData(self.model)
        m = self.model
        joints = [m.joint(name).id for name in R.JOINTS_MODEL]
        self.qpos_idx = m.jnt_qposadr[joints]
        self.dof_idx = m.jnt_dofadr[joints]
        actuator_of = {int(m.actuator_trnid[a, 0]): a for a in range(m.nu)}
        self.actuators = np.array([actuator_of[j] for j in joints])
        self.torque_limit = m.actuator_ctrlrange[self.actuators, 1]
        # As slices: the PD loop reads and writes them through views, between physics steps.
        self.joint_q, self.joint_v = _span(self.qpos_idx), _span(self.dof_idx)
        self.joint_u = _span(self.actuators)
        self.sensor_of = {name: slice(int(m.sensor_adr[i]), int(m.sensor_adr[i] + m.sensor_dim[i]))
                          for name in (R.ACCELEROMETER, R.LINEAR_VELOCITY, R.GYRO)
                          for i in [m.sensor(name).id]}
        self.trunk = m.body(R.TRUNK).id
        # The velocimeter sits at the IMU site; odometry reports the twist at base_link (the
        # trunk's origin): v_base = v_imu - w x r_imu.
        imu = m.site(R.IMU_SITE)
        if imu.bodyid[0] != self.trunk:
            raise ValueError("the IMU site must be on the trunk")
        self.imu_offset = imu.pos.copy()
        free = m.body_jntadr[self.trunk]
        self.base_q, self.base_v = int(m.jnt_qposadr[free]), int(m.jnt_dofadr[free])
        self.feet = [m.geom(name).id for name in R.FEET]
        self.substeps = max(1, round(CONTROL_DT / m.opt.timestep))
        # The PD gains and the lag's smoothing factor as 12-vectors: `x *= vector` is the cheapest
        # numpy call there is, and the loop below makes 80 of them per tick.
        alpha = m.opt.timestep / (ACTUATOR_TAU + m.opt.timestep)
        self.kp, self.kd, self.alpha = np.full(12, KP), np.full(12, KD), np.full(12, alpha)
        self.people_mocap = [int(m.body_mocapid[m.body(f"scene/person_{i}").id])
                             for i in range(len(self.scenario.people))]
        self.policy = WalkingPolicy(robot_assets().policy_onnx) if self.mode == "policy" else None
        self.trim = VelocityTrim()
        if self.mode == "kinematic":  # nothing collides: the base is placed, not simulated
            m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
        self.reset()

    def reset(self) -> None:
        """Stand in the stance at the scenario's start pose, feet on the ground, at rest."""
        m, d, s = self.model, self.data, self.scenario.start
        mujoco.mj_resetData(m, d)
        q = self.base_q
        d.qpos[q:q + 3] = [s.x, s.y, 0.5]
        d.qpos[q + 3:q + 7] = [math.cos(s.yaw / 2), 0, 0, math.sin(s.yaw / 2)]
        d.qpos[self.qpos_idx] = STANCE_MODEL
        mujoco.mj_kinematics(m, d)
        lowest = min(float(d.geom_xpos[g][2] - m.geom_size[g][0]) for g in self.feet)
        d.qpos[q + 2] -= lowest
        self.stand_height = float(d.qpos[q + 2])
        self.time = 0.0
        self.command = np.zeros(3)       # the last accepted command
        self.command_at = -math.inf      # sim time it arrived
        self.ramped = np.zeros(3)        # the command after slew limiting (policy mode)
        self.applied = np.zeros(12)      # torques after the actuator lag
        self.torque, self.damping = np.zeros(12), np.zeros(12)   # scratch for the PD loop
        if self.policy is not None:
            self.policy.reset()
        self.trim.reset()
        self._place_people()
        mujoco.mj_forward(m, d)

    def set_command(self, command: np.ndarray) -> None:
        """Accept a checked command (see check_command) at the current sim time."""
        self.command, self.command_at = np.asarray(command, float), self.time

    def active_command(self) -> np.ndarray:
        """The command in force now: zero (stand) once it is older than COMMAND_TIMEOUT."""
        return self.command if self.time - self.command_at <= COMMAND_TIMEOUT else np.zeros(3)

    def _place_people(self) -> None:
        for mocap, person in zip(self.people_mocap, self.scenario.people):
            x, y, yaw = position_on_loop(person.path, person.speed, self.time)
            self.data.mocap_pos[mocap] = [x, y, 0.0]
            self.data.mocap_quat[mocap] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]


def _span(index: np.ndarray) -> slice:
    """`index` as a slice: the Go2's joints, their dofs and its actuators are contiguous runs."""
    first = int(index[0])
    if not np.array_equal(index, np.arange(first, first + len(index))):
        raise ValueError(f"indices {index.tolist()} are not a contiguous run")
    return slice(first, first + len(index))


#: Set during all but the last physics step of a tick: the sensors feed nothing back into the
#: physics and only the last step's readings are reported (the accelerometer alone makes every
#: step compute the constraint forces per body, mj_rnePostConstraint).
_NO_SENSORS = int(mujoco.mjtDisableBit.mjDSBL_SENSOR)


def step(world: SimWorld, command: np.ndarray | None = None) -> BaseState:
    """Advance one control tick; `command` (checked) replaces the one in force if given."""
    if command is not None:
        world.set_command(command)
    target = world.active_command()
    world._place_people()
    if world.mode == "policy":
        _walk(world, target)
    else:
        _glide(world, target)
    return read_state(world)


def _walk(w: SimWorld, target: np.ndarray) -> None:
    m, d = w.model, w.data
    w.ramped += np.minimum(np.maximum(target - w.ramped, -COMMAND_SLEW), COMMAND_SLEW)   # = clip
    walk = w.trim.update(w.ramped, body_velocity(w), CONTROL_DT)
    q, v = w.base_q, w.base_v
    qw, qx, qy, qz = d.qpos[q + 3:q + 7].tolist()   # floats: numpy scalar arithmetic is slower
    gravity = np.array([-2 * (qx * qz - qw * qy), -2 * (qy * qz + qw * qx), -(1 - 2 * (qx * qx + qy * qy))])
    assert w.policy is not None  # the walking mode has a policy (load_world checks)
    targets = w.policy.act(d.qvel[v + 3:v + 6], gravity, d.qpos[w.joint_q], d.qvel[w.joint_v], walk)
    # The joint PD loop and the actuator lag run at the physics rate, so MuJoCo is stepped one
    # step at a time. In place on preallocated arrays, with the same operations in the same order
    # as applied += alpha * (clip(KP * (targets - q) - KD * dq, -limit, limit) - applied).
    torque, damping, applied = w.torque, w.damping, w.applied
    kp, kd, alpha, high = w.kp, w.kd, w.alpha, w.torque_limit
    low = -high
    # Views into MjData (its buffers never move): they see each step's new state.
    q_now, dq_now, ctrl = d.qpos[w.joint_q], d.qvel[w.joint_v], d.ctrl[w.joint_u]
    opt = m.opt   # one wrapper for the tick: each `m.opt` builds a new one
    flags = opt.disableflags
    opt.disableflags = flags | _NO_SENSORS
    try:
        for i in range(w.substeps):
            if i == w.substeps - 1:
                opt.disableflags = flags
            np.subtract(targets, q_now, torque)
            torque *= kp
            np.multiply(dq_now, kd, damping)
            torque -= damping
            np.maximum(torque, low, out=torque)   # = np.clip(torque, low, high)
            np.minimum(torque, high, out=torque)
            torque -= applied
            torque *= alpha
            applied += torque
            ctrl[:] = applied
            mujoco.mj_step(m, d)
    finally:
        opt.disableflags = flags
    w.time += w.substeps * opt.timestep


def _glide(w: SimWorld, target: np.ndarray) -> None:
    """Kinematic mode: integrate the command exactly (heading frame), legs in the stance."""
    m, d = w.model, w.data
    q, v = w.base_q, w.base_v
    qw, _, _, qz = d.qpos[q + 3:q + 7]
    yaw = 2 * math.atan2(qz, qw)
    vx, vy, wz = target
    c, s = math.cos(yaw), math.sin(yaw)
    d.qpos[q] += (c * vx - s * vy) * CONTROL_DT
    d.qpos[q + 1] += (s * vx + c * vy) * CONTROL_DT
    d.qpos[q + 2] = w.stand_height
    yaw += wz * CONTROL_DT
    d.qpos[q + 3:q + 7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
    d.qpos[w.qpos_idx] = STANCE_MODEL
    d.qvel[:] = 0
    d.qvel[v:v + 3] = [c * vx - s * vy, s * vx + c * vy, 0.0]   # free joint: world-frame linear
    d.qvel[v + 3:v + 6] = [0.0, 0.0, wz]                          # and body-frame angular
    d.qacc[:] = 0
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_camlight(m, d)
    mujoco.mj_comVel(m, d)
    mujoco.mj_sensorPos(m, d)
    mujoco.mj_sensorVel(m, d)
    w.time += CONTROL_DT


def body_velocity(w: SimWorld) -> np.ndarray:
    """(vx, vy) in the heading frame and the yaw rate, as a velocity command means them."""
    d, v = w.data, w.base_v
    rot = d.xmat[w.trunk].reshape(3, 3)
    heading = math.atan2(rot[1, 0], rot[0, 0])
    c, s = math.cos(heading), math.sin(heading)
    lin, ang = d.qvel[v:v + 3], d.qvel[v + 3:v + 6]
    return np.array([c * lin[0] + s * lin[1], -s * lin[0] + c * lin[1], (rot @ ang)[2]])


def read_state(w: SimWorld) -> BaseState:
    d = w.data
    def sensor(name: str) -> np.ndarray:
        reading: np.ndarray = d.sensordata[w.sensor_of[name]].copy()
        return reading
    if w.mode == "kinematic":   # no dynamics: the accelerometer reads gravity alone
        rot = d.xmat[w.trunk].reshape(3, 3)
        specific_force = rot.T @ -w.model.opt.gravity
    else:
        specific_force = sensor(R.ACCELEROMETER)
    gyro = sensor(R.GYRO)
    return BaseState(
        time=w.time, position=d.xpos[w.trunk].copy(), orientation=d.xquat[w.trunk].copy(),
        linear_velocity=sensor(R.LINEAR_VELOCITY) - np.cross(gyro, w.imu_offset), angular_velocity=gyro,
        specific_force=specific_force, joint_position=d.qpos[w.joint_q].copy(),
        joint_velocity=d.qvel[w.joint_v].copy(), joint_effort=d.actuator_force[w.joint_u].copy())
