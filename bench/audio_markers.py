"""Latency markers for the audio benchmarks (bench megaphone, bench talk): 20 ms voice frames at
50 Hz, every 0.4 s one opening with a 10 ms tone burst; the bursts' onsets are recorded from the
speaker's monitor and paired with the times their frames were handed over.

Consecutive markers sound different tones (TONES_HZ, in turn) and each onset is heard with its
tone, so a marker pairs only with its own burst: with one tone, a burst the device lost paired
its marker with the next marker's burst and every later marker with the one after its own, a
standing 400 ms "device" delay from one lost burst (measured: talk 89 ms for 9 markers, then
510-535 ms for the rest of the run).

With the megaphone's voice trace (robot_dog/audio/voice_trace.py: when each chunk was received,
left the jitter buffer, was mixed and written) each marker's latency splits into stages, and a
marker not heard is put down to the stage where it was last seen.
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from bench.stats import NoSamples, percentile
from robot_dog.audio import devices

MARKERS = 30
_FRAME_S = 0.02
_EVERY = 20                  # frames between markers: 0.4 s
_LOUD = 3000                 # |sample| above this is the burst, not the silence between
#: Marker i sounds TONES_HZ[i % 4]: 300 Hz or more apart, told apart in 5 ms of burst (200 Hz
#: bins); a mispairing would need an error of four markers, 1.6 s, past the 1 s pairing window.
TONES_HZ = (700, 1000, 1400, 2000)
_TONE_SAMPLES = 480          # the burst's length: the first half of a 20 ms frame
_MIN_TONE_SAMPLES = 240      # at least this much of it to tell its tone

T = TypeVar("T")


def _frames() -> tuple[np.ndarray, list[np.ndarray]]:
    """(silence, bursts): 960 samples (20 ms at 48 kHz); burst i's first half is TONES_HZ[i]."""
    silence = np.zeros(960, np.int16)
    bursts = []
    for hz in TONES_HZ:
        burst = silence.copy()
        burst[:_TONE_SAMPLES] = (0.5 * 32767 * np.sin(
            2 * np.pi * hz * np.arange(_TONE_SAMPLES) / devices.RATE_HZ)).astype(np.int16)
        bursts.append(burst)
    return silence, bursts


def tone_of(samples: np.ndarray) -> int:
    """Which of TONES_HZ sounds loudest in `samples` (its index)."""
    n = np.arange(len(samples)) / devices.RATE_HZ
    x = samples.astype(np.float64)
    return int(np.argmax([abs(np.dot(x, np.exp(-2j * np.pi * hz * n))) for hz in TONES_HZ]))


@dataclass(frozen=True)
class Onset:
    at: float         # monotonic s, capture time of the burst's first loud sample
    tone: int         # index into TONES_HZ


@dataclass(frozen=True)
class Marker:
    seq: int          # the frame's sequence number (its index in the stream)
    sent: float       # monotonic s, just before it was handed over
    handed: float     # just after the hand-over returned (for talk: encoded and published)
    tone: int = 0     # index into TONES_HZ of its burst


class PulseLatencyWatch:
    """PulseAudio's own view of the speaker path, polled in a thread (`pactl list`, every
    0.5 s): the largest buffer and sink latency of any playback stream (the megaphone's
    speaker) and the largest buffer and source latency of any recording stream (the monitor
    this benchmark records). When the device stage jumps, these say whether the daemon held
    the audio, and on which side."""

    _FIELD = re.compile(r"^\s*(Buffer|Sink|Source) Latency: (\d+) usec", re.M)

    def __init__(self, period_s: float = 0.5) -> None:
        self.max_us: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period_s,), daemon=True)
        self._thread.start()

    def _run(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            for kind, side in (("sink-inputs", "speaker"), ("source-outputs", "monitor")):
                try:
                    text = subprocess.run(["pactl", "list", kind], capture_output=True, text=True,
                                          timeout=5).stdout
                except (OSError, subprocess.SubprocessError):
                    continue
                for what, usec in self._FIELD.findall(text):
                    key = f"{side}_{what.lower()}"
                    self.max_us[key] = max(self.max_us.get(key, 0), int(usec))

    def figures(self, prefix: str) -> dict[str, object]:
        self._stop.set()
        self._thread.join(timeout=10)
        return {f"{prefix}_pulse_{key}_latency_max_ms": round(us / 1000, 1)
                for key, us in sorted(self.max_us.items())} or {
                    f"{prefix}_pulse_latency": "not read (pactl answered nothing)"}


class OnsetRecorder:
    """Records the speaker's monitor in a thread and, on `close()`, finds each burst's onset: the
    capture time of its first loud sample (read time minus the samples after it, and minus what
    was recorded and not read yet: a reader that fell behind would otherwise add its own lag to
    every later onset) and its tone. An onset re-arms only after a quiet frame, so a burst split
    over two reads counts once; the tone is told from the samples after the onset, across reads."""

    def __init__(self) -> None:
        from robot_dog.audio.stream import PcmInput
        self.mic = PcmInput(devices.SPEAKER_MONITOR)
        self.onsets: list[Onset] = []
        self.max_backlog = 0              # samples
        self._reads: list[tuple[float, int, np.ndarray]] = []   # (read at, backlog, frame)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)
        self._thread.start()

    def _record(self) -> None:
        while not self._stop.is_set():
            frame = self.mic.read()
            read_at = time.monotonic()
            backlog = self.mic.backlog()
            self.max_backlog = max(self.max_backlog, backlog)
            self._reads.append((read_at, backlog, frame))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.mic.close()
        self.onsets = find_onsets(self._reads)


def find_onsets(reads: list[tuple[float, int, np.ndarray]]) -> list[Onset]:
    """The onsets in a recording made of reads (read at, backlog in samples, frame)."""
    if not reads:
        return []
    audio = np.concatenate([frame for _at, _backlog, frame in reads])
    onsets: list[Onset] = []
    armed, start = True, 0
    for read_at, backlog, frame in reads:
        loud = np.flatnonzero(np.abs(frame) > _LOUD)
        if loud.size and armed:
            first = start + int(loud[0])
            tone = audio[first:first + _TONE_SAMPLES]
            if len(tone) >= _MIN_TONE_SAMPLES:   # a burst cut off by the end of the recording: not heard
                onsets.append(Onset(read_at - (len(frame) - loud[0] + backlog) / devices.RATE_HZ,
                                    tone_of(tone)))
            armed = False
        elif not loud.size:
            armed = True
        start += len(frame)
    return onsets


def send_markers(prepare: Callable[[int, np.ndarray], T], send: Callable[[T], None],
                 markers: int = MARKERS) -> list[Marker]:
    """Sends frames on the 20 ms grid: `prepare(seq, samples)` builds one, `send` hands it over;
    a marker's time is taken between the two, so only the handing over counts in its latency."""
    silence, bursts = _frames()
    sent: list[Marker] = []
    start = time.monotonic()
    for seq in range(markers * _EVERY + 25):
        time.sleep(max(0.0, start + seq * _FRAME_S - time.monotonic()))
        marker = seq % _EVERY == 5 and len(sent) < markers
        tone = len(sent) % len(TONES_HZ)
        frame = prepare(seq, bursts[tone] if marker else silence)
        before = time.monotonic()
        send(frame)
        if marker:
            sent.append(Marker(seq, before, time.monotonic(), tone))
    return sent


def heard(markers: list[Marker], onsets: list[Onset],
          trace: dict[int, dict]) -> dict[int, float]:
    """Each marker the megaphone played (its trace has it leave the jitter buffer) paired with
    the first onset of its tone not yet paired from when it went to the device (5 ms of slack),
    within 1 s: sequence -> onset time. A marker that never played, or whose burst the device
    lost, is not paired with the next one's burst (that counted it, and with one tone every
    marker after it, 400 ms late)."""
    paired: dict[int, float] = {}
    used: set[Onset] = set()
    for marker in markers:
        row = trace.get(marker.seq, {})
        if "pulled" not in row:
            continue
        earliest = max(marker.sent, row["mixed"] + row["offset_s"]) - 0.005
        later = [o for o in onsets if o.at >= earliest and o.tone == marker.tone and o not in used]
        if later and later[0].at - marker.sent < 1.0:
            paired[marker.seq] = later[0].at
            used.add(later[0])
    return paired


#: Stages of a marker's latency, in order; each from the marker, its trace row and its onset.
#: "network" starts at the hand-over where an encode stage precedes it, else at the send.
_Stage = Callable[[Marker, dict, float], float]
STAGES: dict[str, _Stage] = {
    "encode": lambda m, r, o: m.handed - m.sent,
    "network": lambda m, r, o: r["received"] - m.handed,
    "jitter_buffer": lambda m, r, o: r["pulled"] + r["offset_s"] - r["received"],
    "mixer": lambda m, r, o: r["mixed"] - r["pulled"],
    "device": lambda m, r, o: o - r["mixed"] - r["offset_s"],
}
_NETWORK_FROM_SEND: _Stage = lambda m, r, o: r["received"] - m.sent


def _lost_at(row: dict | None) -> str:
    if row is None or "received" not in row:
        return "network"
    if "dropped" in row:
        return f"jitter_buffer_{row['dropped']}"
    if "pulled" not in row:
        return "received_never_played"   # in the buffer when the output stopped pulling
    return "device"


def report(prefix: str, markers: list[Marker], onsets: list[Onset],
           trace: dict[int, dict], encode: bool) -> dict[str, object]:
    """Figures: markers heard, latency p50/p99, per stage p50/p99 and where the lost were lost.
    Raises (with what was seen) when no marker was heard: a benchmark never quotes nothing."""
    paired = heard(markers, onsets, trace)
    lost = Counter(_lost_at(trace.get(m.seq)) for m in markers if m.seq not in paired)
    lost_text = ", ".join(f"{stage} {n}" for stage, n in sorted(lost.items())) or "none"
    if not paired:
        received = sum(1 for m in markers if "received" in trace.get(m.seq, {}))
        raise NoSamples(f"{prefix}: no marker heard of {len(markers)} sent ({len(onsets)} "
                           f"onsets recorded; {received} received by the megaphone, whose voice "
                           f"trace has {len(trace)} chunks; lost at: {lost_text})")
    latencies = [(paired[m.seq] - m.sent) * 1000 for m in markers if m.seq in paired]
    print(f"   {prefix} latencies ms:", " ".join(f"{v:.0f}" for v in latencies), flush=True)
    figures: dict[str, object] = {
        f"{prefix}_markers_heard": f"{len(paired)}/{len(markers)}",
        f"{prefix}_p50_ms": percentile(latencies, 0.5), f"{prefix}_p99_ms": percentile(latencies, 0.99),
        f"{prefix}_capture": "not in this path (synthesised frames; a microphone's buffer adds)",
    }
    timed = [m for m in markers if m.seq in paired]
    for name, stage in STAGES.items():
        if name == "encode" and not encode:
            continue
        if name == "network" and not encode:
            stage = _NETWORK_FROM_SEND             # no encode stage: the publish call counts here
        values = [stage(m, trace[m.seq], paired[m.seq]) * 1000 for m in timed]
        figures[f"{prefix}_stage_{name}_p50_ms"] = percentile(values, 0.5)
        figures[f"{prefix}_stage_{name}_p99_ms"] = percentile(values, 0.99)
    figures[f"{prefix}_lost_at"] = lost_text
    # A burst heard but paired with no marker: its time from the nearest marker's send and its
    # tone against that marker's say whether a "device" loss was a tone told wrong or a burst
    # that never sounded.
    used = set(paired.values())
    stray = [o for o in onsets if o.at not in used and markers]
    figures[f"{prefix}_onsets_unpaired"] = "; ".join(
        f"{(o.at - m.sent) * 1000:+.0f} ms from marker {m.seq} (tone {o.tone}, marker's {m.tone})"
        for o in stray for m in [min(markers, key=lambda m: abs(o.at - m.sent))]) or "none"
    return figures

