"""The stepping core without ROS: commands, kinematic mode, and the walking policy's gait."""
import math

import numpy as np
import pytest

from sim.core import COMMAND_TIMEOUT, VelocityRejected, SimWorld, check_command, step
from sim.model import CONTROL_DT
from sim.scenario import load_scenario


@pytest.mark.parametrize("bad", [(math.nan, 0, 0), (0, math.inf, 0), (0, 0, -math.inf),
                                 (1e6, 0, 0), (0, 0, 50.0)])
def test_refuses_non_finite_and_huge(bad):
    with pytest.raises(VelocityRejected):
        check_command(*bad)


def test_accepts_within_limits():
    assert list(check_command(1.0, -0.3, 1.5)) == [1.0, -0.3, 1.5]


@pytest.fixture(scope="module")
def kinematic():
    return SimWorld(load_scenario("plaza_day"), "kinematic")


def test_kinematic_follows_the_command_exactly(kinematic):
    w = kinematic
    w.reset()
    ticks = round(2.0 / CONTROL_DT)
    for _ in range(ticks):
        state = step(w, check_command(0.5, 0.0, 0.0))
    assert state.position[:2] == pytest.approx([1.0, 0.0], abs=1e-9)
    assert state.linear_velocity == pytest.approx([0.5, 0, 0], abs=1e-9)
    for _ in range(round(math.pi / 2 / CONTROL_DT)):
        state = step(w, check_command(0.0, 0.0, 1.0))
    assert state.yaw == pytest.approx(math.pi / 2, abs=0.02)
    assert state.angular_velocity == pytest.approx([0, 0, 1.0], abs=1e-9)
    assert state.specific_force == pytest.approx([0, 0, 9.81], abs=1e-6)
    assert state.time == pytest.approx((ticks + round(math.pi / 2 / CONTROL_DT)) * CONTROL_DT)


def test_turning_in_place_reports_no_linear_velocity_at_base_link(kinematic):
    """The velocimeter sits at the IMU site, off the trunk's origin: read there, turning at
    0.5 rad/s would report vy = -0.013 m/s. The twist is reported at base_link."""
    w = kinematic
    w.reset()
    for _ in range(10):
        state = step(w, check_command(0.0, 0.0, 0.5))
    assert np.any(w.imu_offset[[0, 2]])                     # the site is off the origin
    assert state.linear_velocity == pytest.approx([0, 0, 0], abs=1e-9)
    assert state.angular_velocity == pytest.approx([0, 0, 0.5], abs=1e-9)


def test_command_expires_and_the_dog_stands(kinematic):
    w = kinematic
    w.reset()
    step(w, check_command(0.5, 0.0, 0.0))
    for _ in range(round(COMMAND_TIMEOUT / CONTROL_DT) + 5):
        state = step(w)
    assert state.linear_velocity == pytest.approx([0, 0, 0])
    x = state.position[0]
    assert step(w).position[0] == x
    assert 0.2 < x < 0.5 * (COMMAND_TIMEOUT + 2 * CONTROL_DT)


def test_pedestrians_move_with_sim_time(kinematic):
    w = kinematic
    w.reset()
    before = w.data.mocap_pos[w.people_mocap[0]].copy()
    for _ in range(50):
        step(w)
    assert np.linalg.norm(w.data.mocap_pos[w.people_mocap[0]] - before) == pytest.approx(1.1, abs=0.05)


def test_walking_policy_walks_a_square_and_returns():
    """The real gait: a 1 m square (forward 0.5 m/s, turn left 1 rad/s) back near the start."""
    w = SimWorld(load_scenario("plaza_day"), "policy")
    start = step(w).position.copy()
    farthest, lowest = 0.0, math.inf
    for _side in range(4):
        for command, seconds in (((0.5, 0.0, 0.0), 2.2), ((0.0, 0.0, 1.0), math.pi / 2)):
            for _ in range(round(seconds / CONTROL_DT)):
                state = step(w, check_command(*command))
                farthest = max(farthest, float(np.linalg.norm(state.position[:2] - start[:2])))
                lowest = min(lowest, float(state.position[2]))
    for _ in range(50):   # settle: the command expires, the dog stands
        state = step(w)
    closure = float(np.linalg.norm(state.position[:2] - start[:2]))
    assert farthest > 0.9, "the dog did not walk the square"
    assert lowest > 0.2, "the trunk sank: the dog fell"
    assert closure < 0.5, f"ended {closure:.2f} m from the start"
    assert abs(state.linear_velocity[0]) < 0.15   # standing again


def _plain_walk_tick(w: SimWorld, session, last_action: np.ndarray, command: np.ndarray) -> np.ndarray:
    """One policy tick written plainly (the form the fast path in sim.core/sim.policy replaces):
    allocate freely, run the ONNX session through `run`, step MuJoCo with every sensor on."""
    import mujoco

    from sim import core
    from sim.policy import ACTION_SCALE, ACTUATOR_TAU, COMMAND_SLEW, KD, KP, to_model, to_policy
    from sim.robot import STANCE_POLICY
    m, d = w.model, w.data
    w.set_command(command)
    w._place_people()
    w.ramped += np.clip(w.active_command() - w.ramped, -COMMAND_SLEW, COMMAND_SLEW)
    walk = w.trim.update(w.ramped, core.body_velocity(w), CONTROL_DT)
    q, v = w.base_q, w.base_v
    qw, qx, qy, qz = d.qpos[q + 3:q + 7]
    gravity = np.array([-2 * (qx * qz - qw * qy), -2 * (qy * qz + qw * qx), -(1 - 2 * (qx * qx + qy * qy))])
    stance = np.array(STANCE_POLICY)
    obs = np.concatenate([d.qvel[v + 3:v + 6] * 0.25, gravity, walk, to_policy(d.qpos[w.qpos_idx]) - stance,
                          to_policy(d.qvel[w.dof_idx]) * 0.05, last_action])
    (out,) = session.run(None, {session.get_inputs()[0].name: np.clip(obs, -100, 100).astype(np.float32)[None]})
    last_action = np.clip(out[0].astype(np.float64), -100, 100)
    targets = to_model(stance + last_action * ACTION_SCALE)
    dt = m.opt.timestep
    alpha = dt / (ACTUATOR_TAU + dt)
    for _ in range(w.substeps):
        torque = KP * (targets - d.qpos[w.qpos_idx]) - KD * d.qvel[w.dof_idx]
        torque = np.clip(torque, -w.torque_limit, w.torque_limit)
        w.applied += alpha * (torque - w.applied)
        d.ctrl[w.actuators] = w.applied
        mujoco.mj_step(m, d)
    w.time += w.substeps * dt
    return last_action


def test_walking_tick_is_bit_for_bit_the_plain_computation():
    """The per-tick shortcuts (in-place PD loop, sensors only on the last physics step, the
    policy through IOBinding) change the cost, not one bit of the physics or the sensor readings."""
    import onnxruntime as ort

    from sim.assets import robot_assets
    from sim.core import read_state
    fast, plain = (SimWorld(load_scenario("plaza_day"), "policy") for _ in range(2))
    session = ort.InferenceSession(str(robot_assets().policy_onnx), providers=["CPUExecutionProvider"])
    last_action = np.zeros(12)
    commands = [(0.5, 0.0, 0.3)] * 60 + [(1.0, -0.2, -1.0)] * 60 + [(0.0, 0.0, 0.0)] * 20
    for command in commands:
        a = step(fast, check_command(*command))
        last_action = _plain_walk_tick(plain, session, last_action, check_command(*command))
        b = read_state(plain)
        assert np.array_equal(fast.data.qpos, plain.data.qpos)
        assert np.array_equal(fast.data.qvel, plain.data.qvel)
        assert np.array_equal(fast.data.sensordata, plain.data.sensordata)
        for name in ("position", "orientation", "linear_velocity", "angular_velocity", "specific_force",
                     "joint_position", "joint_velocity", "joint_effort"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert fast.time == plain.time
    assert abs(a.linear_velocity[0]) < 1.5   # it walked (and stood), it did not blow up
