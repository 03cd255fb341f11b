"""The audio benchmarks' marker arithmetic: stages add up to the latency, a lost marker is put
down to the stage the megaphone's trace last saw it in (never paired with the next burst), a
burst the device lost does not shift the markers after it, onsets are heard with their tone, and
a run that heard nothing fails with a reason."""
from __future__ import annotations

import numpy as np
import pytest

from bench.audio_markers import TONES_HZ, Marker, Onset, _frames, find_onsets, report


def _played(seq: int, sent: float, offset: float = 0.0) -> dict:
    return {"seq": seq, "received": sent + 0.002, "pulled": sent + 0.03, "offset_s": offset,
            "mixed": sent + 0.031, "written": sent + 0.04}


def test_stages_add_up_and_a_dropped_marker_is_not_paired_with_the_next_burst() -> None:
    markers = [Marker(i * 20, i * 0.4, i * 0.4 + 0.001, i % 4) for i in range(3)]
    trace = {0: _played(0, 0.0), 20: {"seq": 20, "received": 0.402, "dropped": "trimmed"},
             40: _played(40, 0.8, offset=0.01)}
    onsets = [Onset(0.06, 0), Onset(0.87, 2)]  # marker 20's burst never sounded
    figures = report("x", markers, onsets, trace, encode=True)
    assert figures["x_markers_heard"] == "2/3"
    assert figures["x_lost_at"] == "jitter_buffer_trimmed 1"
    assert figures["x_p99_ms"] == pytest.approx(70.0)
    stages = ("encode", "network", "jitter_buffer", "mixer", "device")
    assert sum(figures[f"x_stage_{s}_p99_ms"] for s in stages) == pytest.approx(70.0)


def test_lost_markers_name_their_stage() -> None:
    markers = [Marker(0, 0.0, 0.0), Marker(20, 0.4, 0.4), Marker(40, 0.8, 0.8)]
    trace = {0: _played(0, 0.0), 40: _played(40, 0.8)}
    figures = report("x", markers, [Onset(0.06, 0)], trace, encode=False)   # 40 played, not recorded
    assert figures["x_lost_at"] == "device 1, network 1"


def test_nothing_heard_fails_with_what_was_seen() -> None:
    markers = [Marker(0, 0.0, 0.0)]
    with pytest.raises(RuntimeError, match=r"no marker heard of 1 sent \(0 onsets recorded; 1 "
                                           r"received.*jitter_buffer_late 1"):
        report("x", markers, [], {0: {"seq": 0, "received": 0.01, "dropped": "late"}}, encode=False)


def test_a_burst_the_device_lost_does_not_shift_the_markers_after_it() -> None:
    """Marker 1 played but its burst never reached the monitor: markers 2-5 still pair with their
    own bursts (70 ms), not each with the next one's (470 ms), and marker 1 is lost at the device."""
    markers = [Marker(i * 20, i * 0.4, i * 0.4, i % 4) for i in range(6)]
    trace = {m.seq: _played(m.seq, m.sent) for m in markers}
    onsets = [Onset(m.sent + 0.07, m.tone) for m in markers if m.seq != 20]
    figures = report("x", markers, onsets, trace, encode=False)
    assert figures["x_markers_heard"] == "5/6"
    assert figures["x_lost_at"] == "device 1"
    assert figures["x_p99_ms"] == pytest.approx(70.0)


def test_onsets_are_found_with_their_tone_across_reads() -> None:
    """Bursts of every tone, one split over two reads, recorded with a backlog: each onset once,
    at its first loud sample's capture time, with its tone."""
    silence, bursts = _frames()
    split = np.zeros(1920, np.int16)
    split[800:1280] = bursts[3][:480]                              # tone 3 from 800 samples in
    stream = np.concatenate([silence, bursts[2], silence, silence, bursts[0], silence, split])
    reads, at = [], 10.0
    for i in range(0, len(stream), 960):
        at += 0.02
        reads.append((at, 96, stream[i:i + 960]))                  # 2 ms recorded, not yet read
    onsets = find_onsets(reads)
    assert [o.tone for o in onsets] == [2, 0, 3]
    # read 2, its first samples (the sine passes the loudness threshold 2 samples in: 0.04 ms)
    assert onsets[0].at == pytest.approx(10.04 - (960 + 96) / 48000, abs=1e-4)
    assert onsets[2].at == pytest.approx(10.0 + 0.02 * 7 - (960 - 800 + 96) / 48000, abs=1e-4)
    assert len(TONES_HZ) == 4
