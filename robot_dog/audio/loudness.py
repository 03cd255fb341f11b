"""Loudness of announcements and the microphone (ITU-R BS.1770-4), in numpy.

Announcements are normalised to one integrated loudness, so a quiet clip and a loud TTS voice
come out of the megaphone equally loud; the gain is capped so peaks stay below full scale.

Why our own code and not pyloudnorm: pyloudnorm imports scipy at import time, and scipy cost
each audio node +67-69 MB PSS (measured: `./dev.sh bench audio_memory`) and 1.1 s of CPU at
start-up, for two biquad filters and a gate. The filters are the standard's 48 kHz K-weighting
coefficients (BS.1770-4, tables 1 and 2); `_Biquad` applies them exactly (block state-space
form, float64), and the gating follows the standard as pyloudnorm implements it. tests/test_audio_loudness.py holds both to pyloudnorm and
scipy.signal.lfilter (kept as test-only references): the filter output to 1e-9 and integrated
loudness to 0.05 LU (measured 0.04 LU apart: pyloudnorm derives its coefficients from analog
prototypes, ~4e-5 off the standard's table used here; the 1 kHz reference sine reads -3.01).
The price is CPU: 33-37 ms for the integrated loudness of 10 s against scipy's 9 ms (measured),
once per announcement; the microphone filters each 20 ms frame once (`KWeighting`: both
stages as one system, 0.01 ms a frame in a loop, 0.06 ms at the microphone's one frame per 20 ms).
"""
from __future__ import annotations

import functools

import numpy as np

from robot_dog.audio.devices import RATE_HZ

TARGET_LUFS = -16.0
_MIN_S = 0.4                         # BS.1770 gating blocks are 400 ms
_BLOCK_S = 0.4
_STEP = 0.25                         # blocks overlap by 75 %
_ABSOLUTE_GATE = -70.0               # LKFS
_RELATIVE_GATE = -10.0               # LU below the absolute-gated loudness

#: K-weighting at 48 kHz (BS.1770-4): stage 1 shelving (head), stage 2 high-pass (RLB); (b, a).
K_WEIGHTING_48K = (
    ((1.53512485958697, -2.69169618940638, 1.19839281085285),
     (1.0, -1.69065929318241, 0.73248077421585)),
    ((1.0, -2.0, 1.0),
     (1.0, -1.99004745483398, 0.99007225036621)),
)
_BLOCK = 128                         # samples per block of the filter's matrix form


class _Biquad:
    """One biquad as matrices over blocks of `_BLOCK` samples: the zero-state response of a block
    is a product with the impulse response's Toeplitz matrix, and the filter's 2-sample state is
    carried from block to block (one 2x2 step per block, not per sample), which is exact where a
    Python loop per sample would take ~1 s per 10 s of audio."""

    def __init__(self, b: tuple[float, ...], a: tuple[float, ...], block: int = _BLOCK) -> None:
        b0, b1, b2 = (v / a[0] for v in b)
        a1, a2 = a[1] / a[0], a[2] / a[0]
        # transposed direct form II: y = z1 + b0 x; z' = A z + g x
        A = np.array([[-a1, 1.0], [-a2, 0.0]])
        g = np.array([b1 - a1 * b0, b2 - a2 * b0])
        powers = [np.eye(2)]
        for _ in range(block):
            powers.append(A @ powers[-1])
        h = np.array([b0] + [powers[m - 1][0] @ g for m in range(1, block)])
        index = np.arange(block)
        lag = index[:, None] - index[None, :]
        self.toeplitz_t = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0).T  # x_block @ this
        self.from_state = np.array([powers[n][0] for n in range(block)]).T     # z @ this (2, B)
        self.to_state = np.array([powers[block - 1 - k] @ g for k in range(block)])  # (B, 2)
        self.carry = powers[block]
        self.step = A
        self.tail_drive = np.array([powers[block - 1 - k] @ g for k in range(block)])
        self.block = block

    def __call__(self, x: np.ndarray, state: tuple[float, float] = (0.0, 0.0)
                 ) -> tuple[np.ndarray, tuple[float, float]]:
        """(filtered x, the state after it): pass the state back in to filter a stream."""
        n = x.size
        blocks = -(-n // self.block)
        padded = np.zeros(blocks * self.block)
        padded[:n] = x
        X = padded.reshape(blocks, self.block)
        drive = X @ self.to_state
        states = np.empty((blocks, 2))
        (c00, c01), (c10, c11) = self.carry
        z0, z1 = state
        for k, (d0, d1) in enumerate(drive.tolist()):
            states[k] = z0, z1
            z0, z1 = c00 * z0 + c01 * z1 + d0, c10 * z0 + c11 * z1 + d1
        y = (X @ self.toeplitz_t + states @ self.from_state).reshape(-1)
        if n < blocks * self.block:   # the state after the last real sample, not the padding
            tail = n - (blocks - 1) * self.block
            end = np.linalg.matrix_power(self.step, tail) @ states[-1] + X[-1, :tail] @ self.tail_drive[-tail:]
            z0, z1 = float(end[0]), float(end[1])
        return y[:n], (z0, z1)


_K_STAGES = [_Biquad(b, a) for b, a in K_WEIGHTING_48K]


def k_weighted(signal: np.ndarray) -> np.ndarray:
    """The BS.1770 K-weighting of a mono float signal at 48 kHz (float64)."""
    x = np.asarray(signal, dtype=np.float64)
    for stage in _K_STAGES:
        x, _ = stage(x)
    return x


class _FramePlan:
    """Both K-weighting stages as one 4-state system over frames of `n` samples, in blocks of
    `block` (a divisor of n): per frame a handful of matrix products and no Python loop.

    The state is the two biquads' states side by side (stage 1's, then stage 2's), so a frame
    of another length can go through the stages one by one and hand the state back. Why: the
    microphone filters 50 frames a second, and at one frame per 20 ms each numpy call runs
    cold; the two stages took about 60 numpy calls a frame (padding 960 samples to 1024, a
    matrix power for the tail, a Python loop over blocks), this takes about ten.
    """

    def __init__(self, n: int, block: int) -> None:
        (b1, a1), (b2, a2) = ((tuple(v / a[0] for v in b), (a[1] / a[0], a[2] / a[0]))
                              for b, a in K_WEIGHTING_48K)
        # transposed direct form II per stage (y = z[0] + b0 x; z' = A z + g x), cascaded
        A1 = np.array([[-a1[0], 1.0], [-a1[1], 0.0]])
        A2 = np.array([[-a2[0], 1.0], [-a2[1], 0.0]])
        g1 = np.array([b1[1] - a1[0] * b1[0], b1[2] - a1[1] * b1[0]])
        g2 = np.array([b2[1] - a2[0] * b2[0], b2[2] - a2[1] * b2[0]])
        first = np.array([1.0, 0.0])
        A = np.zeros((4, 4))
        A[:2, :2], A[2:, :2], A[2:, 2:] = A1, np.outer(g2, first), A2
        B = np.concatenate([g1, g2 * b1[0]])
        C = np.concatenate([b2[0] * first, first])
        D = b2[0] * b1[0]
        powers = [np.eye(4)]
        for _ in range(block):
            powers.append(A @ powers[-1])
        h = np.array([D] + [C @ powers[m - 1] @ B for m in range(1, block)])
        index = np.arange(block)
        lag = index[:, None] - index[None, :]
        self.toeplitz_t = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0).T   # x_block @ this
        self.from_state = np.array([C @ powers[m] for m in range(block)]).T      # s @ this (4, B)
        self.to_state = np.array([powers[block - 1 - k] @ B for k in range(block)])  # (B, 4)
        carry = powers[block]
        blocks = n // block
        # the state at the start of blocks 0..blocks (the last: after the frame), from the
        # state before the frame and each block's drive: s_k = carry^k s_0 + sum carry^(k-1-j) d_j
        carry_powers = [np.linalg.matrix_power(carry, k) for k in range(blocks + 1)]
        self.from_start = np.hstack([p.T for p in carry_powers])                   # (4, 4(K+1))
        self.from_drive = np.zeros((4 * blocks, 4 * (blocks + 1)))
        for k in range(1, blocks + 1):
            for j in range(k):
                self.from_drive[4 * j:4 * j + 4, 4 * k:4 * k + 4] = carry_powers[k - 1 - j].T
        self.blocks, self.block = blocks, block

    def __call__(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = x.reshape(self.blocks, self.block)
        drive = (X @ self.to_state).reshape(-1)
        states = (state @ self.from_start + drive @ self.from_drive).reshape(-1, 4)
        y = X @ self.toeplitz_t + states[:-1] @ self.from_state
        return y.reshape(-1), states[-1]


@functools.lru_cache(maxsize=8)
def _frame_plan(n: int) -> _FramePlan | None:
    """The plan for frames of `n` samples, if a block length divides n (64 for the microphone's
    960) in at most 32 blocks; None: the stages one by one."""
    block = next((b for b in (64, 60, 48, 80, 96, 120, 128, 40, 32)
                  if n % b == 0 and n // b <= 32), None)
    return _FramePlan(n, block) if block else None


class KWeighting:
    """The K-weighting of a stream, frame by frame (the filters' state carried between frames):
    the microphone's level filters each 20 ms frame once instead of its 400 ms window again."""

    def __init__(self) -> None:
        self._state = np.zeros(4)               # stage 1's two, then stage 2's two

    def process(self, frame: np.ndarray) -> np.ndarray:
        x = np.asarray(frame, dtype=np.float64)
        plan = _frame_plan(x.size)
        if plan is not None:
            y, self._state = plan(x, self._state)
            return y
        s = self._state.tolist()                # a length with no plan: stage by stage
        x, first = _K_STAGES[0](x, (s[0], s[1]))
        x, second = _K_STAGES[1](x, (s[2], s[3]))
        self._state = np.array([*first, *second])
        return x


def integrated_lufs(signal: np.ndarray) -> float:
    """Integrated loudness (LUFS), gated; -inf for silence; below 0.4 s, padded with silence."""
    if len(signal) < _MIN_S * RATE_HZ:
        padded = np.zeros(int(_MIN_S * RATE_HZ), dtype=np.float64)
        padded[: len(signal)] = signal
        signal = padded
    power = np.square(k_weighted(signal))
    total = np.concatenate([[0.0], np.cumsum(power)])
    seconds = len(power) / RATE_HZ
    count = int(np.round((seconds - _BLOCK_S) / (_BLOCK_S * _STEP))) + 1
    starts = (np.arange(count) * _STEP * _BLOCK_S * RATE_HZ).astype(int)
    ends = np.minimum(((np.arange(count) * _STEP + 1) * _BLOCK_S * RATE_HZ).astype(int), len(power))
    z = (total[ends] - total[starts]) / (_BLOCK_S * RATE_HZ)
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10 * np.log10(z)
        loud = z[blocks >= _ABSOLUTE_GATE]
        if loud.size == 0:
            return float("-inf")
        gate = -0.691 + 10 * np.log10(np.mean(loud)) + _RELATIVE_GATE
        kept = z[(blocks > gate) & (blocks > _ABSOLUTE_GATE)]
        return float(-0.691 + 10 * np.log10(np.mean(kept))) if kept.size else float("-inf")


def momentary_lufs(window: np.ndarray) -> float:
    """Loudness of one 400 ms window (BS.1770 momentary), ungated; -120 for silence."""
    weighted = k_weighted(window)
    power = float(np.mean(weighted ** 2))
    return -0.691 + 10 * np.log10(power) if power > 1e-12 else -120.0


def normalise(signal: np.ndarray, target_lufs: float = TARGET_LUFS, peak: float = 0.95) -> np.ndarray:
    """`signal` scaled to `target_lufs`, the gain capped so |peak| <= `peak`."""
    loudness = integrated_lufs(signal)
    top = float(np.max(np.abs(signal))) if signal.size else 0.0
    if not np.isfinite(loudness) or top == 0.0:
        return np.asarray(signal, dtype=np.float32)
    gain = min(10 ** ((target_lufs - loudness) / 20), peak / top)
    return (signal * gain).astype(np.float32)
