"""Sound events from the microphone (pure): bang, glass break, shout, loud.

Hand-written rules over per-frame features (level, onset, decay, spectral balance, voice
activity), not a trained classifier: no model ships in a package we can install, and rules say
plainly why an event fired. Features come from numpy (rfft band energies) and the level
meter (BS.1770 loudness, WebRTC VAD). Frames are 20 ms.

- impulse: the peak jumps >= `onset_db` above the background (running median of frame RMS,
  about 1 s) to >= `impulse_peak_dbfs`, the rise is sharp (>= `rise_db` within 10 ms: a bang
  starts within a millisecond, a voice over tens of them), and within 200 ms the RMS falls
  >= `decay_db` from its top (not a voice or a siren starting). Classified then:
  `glass_break` when most of the burst's energy is above 3 kHz, else `bang`.
- shout: voice activity (WebRTC VAD) and a periodic waveform (autocorrelation peak at a pitch
  of 80-600 Hz: the VAD alone takes engine rumble for voice) with RMS >= `shout_dbfs` for
  >= 0.3 s.
- loud: momentary loudness >= `loud_lufs` for >= 1 s with no other event (engines, crowds).
While `gated` (the dog's own megaphone plays, and `gate_tail_s` after), nothing fires and the
background does not learn: the dog's own siren is not a sound event.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.level import Level
from robot_dog.audio.pcm import FRAME_S


@dataclass(frozen=True)
class EventConfig:
    onset_db: float = 25.0
    impulse_peak_dbfs: float = -10.0
    rise_db: float = 20.0
    decay_db: float = 10.0
    decay_window_s: float = 0.2
    glass_hf_ratio: float = 0.5      # share of energy above 3 kHz
    shout_dbfs: float = -20.0
    shout_periodicity: float = 0.5   # normalised autocorrelation at the pitch lag
    shout_s: float = 0.3
    loud_lufs: float = -15.0
    loud_s: float = 1.0
    refractory_s: float = 1.0        # one event per sound
    gate_tail_s: float = 0.5         # room echo after the megaphone stops


@dataclass(frozen=True)
class SoundEvent:
    kind: str                        # bang, glass_break, shout, loud
    peak_dbfs: float
    confidence: float                # 0..1, from the margin over the threshold


def _confidence(margin_db: float) -> float:
    return float(min(1.0, max(0.0, 0.5 + margin_db / 20)))


class SoundEventDetector:
    def __init__(self, config: EventConfig = EventConfig()) -> None:
        self.config = config
        self._history: deque[float] = deque(maxlen=50)      # frame RMS dBFS, ~1 s
        self._impulse: dict[str, float] | None = None                   # an onset being watched
        self._shout_frames = 0
        self._loud_frames = 0
        self._quiet_until = 0.0                             # refractory / gate tail, s
        self._gated = False
        self._t = 0.0
        self._tail = np.zeros(480, dtype=np.float32)       # last 10 ms of the previous frame

    def set_gated(self, gated: bool) -> None:
        if self._gated and not gated:
            self._quiet_until = max(self._quiet_until, self._t + self.config.gate_tail_s)
        self._gated = gated

    @property
    def background_dbfs(self) -> float:
        return float(np.median(self._history)) if self._history else -120.0

    def update(self, frame: np.ndarray, level: Level) -> SoundEvent | None:
        """One 20 ms frame and its level; an event when one is recognised."""
        c = self.config
        self._t += FRAME_S
        if self._gated or self._t < self._quiet_until:
            self._impulse, self._shout_frames, self._loud_frames = None, 0, 0
            return None
        event = self._watch_impulse(frame, level)
        tail, self._tail = self._tail, frame[-480:].copy()
        if self._impulse is None and event is None:
            # The cheap test first: below `impulse_peak_dbfs` (a street at rest) neither the
            # rise nor the background (a median) is computed.
            background = None
            if (level.peak_dbfs >= c.impulse_peak_dbfs
                    and _rise_db(np.concatenate([tail, frame])) >= c.rise_db):
                background = self.background_dbfs
            if background is not None and level.peak_dbfs - background >= c.onset_db:
                self._impulse = {"top": level.rms_dbfs, "peak": level.peak_dbfs, "frames": 1,
                                 "hf": _hf_energy(frame), "all": float(np.sum(frame ** 2)),
                                 "margin": level.peak_dbfs - background - c.onset_db}
            else:
                self._history.append(level.rms_dbfs)
        if event is None:
            event = self._watch_sustained(frame, level)
        if event is not None:
            self._quiet_until = self._t + c.refractory_s
            self._shout_frames = self._loud_frames = 0
        return event

    def _watch_impulse(self, frame: np.ndarray, level: Level) -> SoundEvent | None:
        c, imp = self.config, self._impulse
        if imp is None:
            return None
        imp["frames"] += 1
        imp["top"] = max(imp["top"], level.rms_dbfs)
        imp["peak"] = max(imp["peak"], level.peak_dbfs)
        if imp["frames"] <= 3:               # the burst itself (60 ms): its spectrum
            imp["hf"] += _hf_energy(frame)
            imp["all"] += float(np.sum(frame ** 2))
        if imp["top"] - level.rms_dbfs >= c.decay_db:
            self._impulse = None
            glass = imp["all"] > 0 and imp["hf"] / imp["all"] >= c.glass_hf_ratio
            return SoundEvent("glass_break" if glass else "bang", imp["peak"],
                              _confidence(imp["margin"]))
        if imp["frames"] * FRAME_S > c.decay_window_s:
            self._impulse = None             # sustained: not an impulse (shout, loud, siren)
        return None

    def _watch_sustained(self, frame: np.ndarray, level: Level) -> SoundEvent | None:
        c = self.config
        shouting = (level.voice_active and level.rms_dbfs >= c.shout_dbfs
                    and periodicity(frame) >= c.shout_periodicity)
        self._shout_frames = self._shout_frames + 1 if shouting else 0
        if self._shout_frames * FRAME_S >= c.shout_s:
            return SoundEvent("shout", level.peak_dbfs, _confidence(level.rms_dbfs - c.shout_dbfs))
        self._loud_frames = self._loud_frames + 1 if level.lufs_momentary >= c.loud_lufs else 0
        if self._loud_frames * FRAME_S >= c.loud_s:
            return SoundEvent("loud", level.peak_dbfs, _confidence(level.lufs_momentary - c.loud_lufs))
        return None


def _hf_energy(frame: np.ndarray) -> float:
    """Energy above 3 kHz (Parseval over the rfft bins), same scale as sum(frame**2)."""
    spectrum = np.abs(np.fft.rfft(frame)) ** 2
    freqs = np.fft.rfftfreq(len(frame), 1 / RATE_HZ)
    weights = np.full(len(spectrum), 2.0)
    weights[0] = 1.0
    if len(frame) % 2 == 0:
        weights[-1] = 1.0
    return float(np.sum((spectrum * weights)[freqs >= 3000]) / len(frame))


def _rise_db(x: np.ndarray, block: int = 48, lookback: int = 10) -> float:
    """Largest jump (dB) of a 1 ms block's peak over the loudest of the 10 ms before it."""
    peaks = np.max(np.abs(x[: len(x) // block * block].reshape(-1, block)), axis=1) + 1e-9
    db = 20 * np.log10(peaks)
    if len(db) <= lookback:
        return 0.0
    before = sliding_window_view(db[:-1], lookback).max(axis=1)    # db[i - lookback:i], each i
    return float(np.max(db[lookback:] - before))


def periodicity(frame: np.ndarray, low_hz: float = 80.0, high_hz: float = 600.0) -> float:
    """Highest local maximum of the normalised autocorrelation at pitch lags (0 = noise, 1 = tone)."""
    x = frame - np.mean(frame)
    n = len(x)
    acf = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    if acf[0] <= 1e-12:
        return 0.0
    acf = acf / acf[0] * n / (n - np.arange(n))     # unbiased: longer lags have fewer terms
    lo, hi = int(RATE_HZ / high_hz), min(int(RATE_HZ / low_hz), n - 2)
    seg = acf[lo - 1:hi + 2]
    peaks = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])
    return float(seg[1:-1][peaks].max()) if peaks.any() else 0.0
