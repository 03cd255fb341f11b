"""Link measurement and the video adaptation policy (pure: time is an argument, no I/O).

`LinkMeter` turns what the MQTT adapter reports into link figures:
  - RTT: time from handing a QoS 1 message to paho to its PUBACK (smoothed, ms);
  - throughput: bytes that left the uplink (acked QoS 1 messages, video frames written to the
    socket) per second over the last `window_s`;
  - video write delay: time from publish() of a frame to paho reporting it written. On a slow
    link the socket buffer fills and this grows first: it is the congestion signal.

`next_level` is the policy: a ladder of (rate, JPEG quality, scale) levels. Step down one level
at once when the link is congested; step back up one level only after `calm_s` without
congestion (multiplicative-decrease-like fast reaction, slow probing, no oscillation at 1 Hz).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoLevel:
    max_hz: float
    quality: int      # JPEG quality 1..100; 0 = send the camera's bytes unchanged
    scale: float      # 1.0 = camera resolution


#: Level 0 passes the camera's JPEG through untouched (no re-encode cost on a good link).
DEFAULT_LADDER: tuple[VideoLevel, ...] = (
    VideoLevel(15.0, 0, 1.0),
    VideoLevel(10.0, 70, 1.0),
    VideoLevel(5.0, 60, 1.0),
    VideoLevel(5.0, 50, 0.5),
    VideoLevel(2.0, 40, 0.5),
    VideoLevel(1.0, 30, 0.5),
)


@dataclass(frozen=True)
class AdaptConfig:
    ladder: tuple[VideoLevel, ...] = DEFAULT_LADDER
    congested_write_ms: float = 150.0  # a frame taking longer than this to reach the socket
    congested_rtt_ms: float = 1000.0   # telemetry PUBACKs this slow: the link is saturated
    max_frames_pending: int = 2        # frames handed to paho but not yet written
    calm_s: float = 5.0                # no congestion this long before stepping up
    hold_s: float = 1.0                # after a step down, wait for the effect before another


@dataclass(frozen=True)
class LinkSample:
    rtt_ms: float | None
    write_ms: float | None   # smoothed video write delay
    frames_pending: int


@dataclass(frozen=True)
class AdaptState:
    level: int = 0
    last_change: float = float("-inf")
    last_congested: float = float("-inf")


def congested(sample: LinkSample, cfg: AdaptConfig) -> bool:
    return (sample.frames_pending > cfg.max_frames_pending
            or (sample.write_ms is not None and sample.write_ms > cfg.congested_write_ms)
            or (sample.rtt_ms is not None and sample.rtt_ms > cfg.congested_rtt_ms))


def next_level(state: AdaptState, sample: LinkSample, now: float, cfg: AdaptConfig) -> AdaptState:
    """The policy: one step down on congestion (at most every hold_s), one up after calm_s."""
    top = len(cfg.ladder) - 1
    if congested(sample, cfg):
        if state.level < top and now - state.last_change >= cfg.hold_s:
            return AdaptState(state.level + 1, now, now)
        return AdaptState(state.level, state.last_change, now)
    calm_since = max(state.last_congested, state.last_change)
    if state.level > 0 and now - calm_since >= cfg.calm_s:
        return AdaptState(state.level - 1, now, state.last_congested)
    return state


class LinkMeter:
    """Accumulates link observations; thread-safe enough for one writer per method family."""

    def __init__(self, window_s: float = 5.0, alpha: float = 0.2) -> None:
        self.window_s, self.alpha = window_s, alpha
        self.rtt_ms: float | None = None
        self.write_ms: float | None = None
        self._sent: dict[int, tuple[float, int, bool]] = {}  # mid -> (t, bytes, is_video)
        self._done: deque[tuple[float, int]] = deque()        # (t, bytes) for throughput
        # paho may write (and report) a QoS 0 message inside publish(), before its mid is known.
        self._early: dict[int, float] = {}

    def _smooth(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.alpha * (new - old)

    def sent(self, mid: int, nbytes: int, t0: float, video: bool = False) -> None:
        """Message `mid` of `nbytes` was handed to the client at `t0` (taken before publish)."""
        self._sent[mid] = (t0, nbytes, video)
        acked_at = self._early.pop(mid, None)
        if acked_at is not None:
            self.acked(mid, acked_at)
        if len(self._sent) > 10_000:  # acks that never come (session lost): forget the oldest
            self._sent.pop(next(iter(self._sent)))

    def acked(self, mid: int, now: float) -> None:
        entry = self._sent.pop(mid, None)
        if entry is None:
            self._early[mid] = now
            while len(self._early) > 256:  # acks of messages that are not measured (status, ...)
                self._early.pop(next(iter(self._early)))
            return
        t, nbytes, video = entry
        ms = max(0.0, (now - t) * 1000.0)
        if video:
            self.write_ms = self._smooth(self.write_ms, ms)
        else:
            self.rtt_ms = self._smooth(self.rtt_ms, ms)
        self._done.append((now, nbytes))

    def reset(self) -> None:
        """Session lost: outstanding mids will never be acked."""
        self._sent.clear()
        self._early.clear()

    @property
    def frames_pending(self) -> int:
        return sum(1 for _, _, video in list(self._sent.values()) if video)

    def throughput_bps(self, now: float) -> float:
        while self._done and self._done[0][0] < now - self.window_s:
            self._done.popleft()
        return sum(n for _, n in self._done) / self.window_s

    def sample(self) -> LinkSample:
        return LinkSample(self.rtt_ms, self.write_ms, self.frames_pending)
