"""The megaphone's voice trace: one row per chunk and source, bounded, written whole and read back."""
from __future__ import annotations

from pathlib import Path

from robot_dog.audio import voice_trace
from robot_dog.audio.voice_trace import VoiceTrace


def test_rows_join_reception_and_playing_and_survive_a_round_trip(tmp_path: Path) -> None:
    trace = VoiceTrace()
    trace.received("handheld", 7, 1.0)
    trace.received("handheld", 8, 1.02)
    trace.received("handheld", 9, 1.04, refusal="late")
    trace.frame("handheld", [(7, 480)], [(8, "shed")], pulled=1.05, mixed=1.051, written=1.07)
    trace.dump(tmp_path / "t.jsonl")
    rows = voice_trace.load(tmp_path / "t.jsonl", "handheld")
    assert rows[7] == {"source": "handheld", "seq": 7, "received": 1.0, "pulled": 1.05,
                       "offset_s": 0.01, "mixed": 1.051, "written": 1.07}
    assert rows[8]["dropped"] == "shed" and rows[9]["dropped"] == "late"
    assert not list(tmp_path.glob("*.tmp"))


def test_two_sources_with_the_same_sequences_keep_rows_of_their_own(tmp_path: Path) -> None:
    trace = VoiceTrace()
    trace.received("handheld", 0, 1.0)
    trace.received("station", 0, 1.5, refusal="overflow")
    trace.frame("handheld", [(0, 0)], [], pulled=1.1, mixed=1.1, written=1.12)
    trace.dump(tmp_path / "t.jsonl")
    handheld = voice_trace.load(tmp_path / "t.jsonl", "handheld")
    station = voice_trace.load(tmp_path / "t.jsonl", "station")
    assert handheld[0]["received"] == 1.0 and "dropped" not in handheld[0]
    assert station[0] == {"source": "station", "seq": 0, "received": 1.5, "dropped": "overflow"}


def test_a_forgotten_trace_stops_growing_at_its_limit() -> None:
    trace = VoiceTrace(limit=3)
    for seq in range(10):
        trace.received("station", seq, float(seq))
    trace.frame("station", [(9, 0)], [], 1.0, 1.0, 1.0)
    assert [row["seq"] for row in trace.rows()] == [0, 1, 2]
