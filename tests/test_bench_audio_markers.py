"""The audio benchmarks' marker arithmetic: stages add up to the latency, a lost marker is put
down to the stage the megaphone's trace last saw it in (never paired with the next burst), and
a run that heard nothing fails with a reason."""
from __future__ import annotations

import pytest

from bench.audio_markers import Marker, report


def _played(seq: int, sent: float, offset: float = 0.0) -> dict:
    return {"seq": seq, "received": sent + 0.002, "pulled": sent + 0.03, "offset_s": offset,
            "mixed": sent + 0.031, "written": sent + 0.04}


def test_stages_add_up_and_a_dropped_marker_is_not_paired_with_the_next_burst() -> None:
    markers = [Marker(i * 20, i * 0.4, i * 0.4 + 0.001) for i in range(3)]
    trace = {0: _played(0, 0.0), 20: {"seq": 20, "received": 0.402, "dropped": "trimmed"},
             40: _played(40, 0.8, offset=0.01)}
    onsets = [0.06, 0.87]                      # marker 20's burst never sounded
    figures = report("x", markers, onsets, trace, encode=True)
    assert figures["x_markers_heard"] == "2/3"
    assert figures["x_lost_at"] == "jitter_buffer_trimmed 1"
    assert figures["x_p99_ms"] == pytest.approx(70.0)
    stages = ("encode", "network", "jitter_buffer", "mixer", "device")
    assert sum(figures[f"x_stage_{s}_p99_ms"] for s in stages) == pytest.approx(70.0)


def test_lost_markers_name_their_stage() -> None:
    markers = [Marker(0, 0.0, 0.0), Marker(20, 0.4, 0.4), Marker(40, 0.8, 0.8)]
    trace = {0: _played(0, 0.0), 40: _played(40, 0.8)}
    figures = report("x", markers, [0.06], trace, encode=False)   # 40 played, not recorded
    assert figures["x_lost_at"] == "device 1, network 1"


def test_nothing_heard_fails_with_what_was_seen() -> None:
    markers = [Marker(0, 0.0, 0.0)]
    with pytest.raises(RuntimeError, match=r"no marker heard of 1 sent \(0 onsets recorded; 1 "
                                           r"received.*jitter_buffer_late 1"):
        report("x", markers, [], {0: {"seq": 0, "received": 0.01, "dropped": "late"}}, encode=False)
