"""The stepping core without ROS: commands, kinematic mode, and the walking policy's gait."""
import math

import numpy as np
import pytest

from sim.core import COMMAND_TIMEOUT, CommandRejected, SimWorld, check_command, step
from sim.model import CONTROL_DT
from sim.scenario import load_scenario


@pytest.mark.parametrize("bad", [(math.nan, 0, 0), (0, math.inf, 0), (0, 0, -math.inf),
                                 (1e6, 0, 0), (0, 0, 50.0)])
def test_refuses_non_finite_and_huge(bad):
    with pytest.raises(CommandRejected):
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
