"""Jitter buffer: order, duplicates, late chunks, gaps, wrap-around, talk spurts."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from robot_dog.audio.jitter import JitterBuffer, seq_diff


LABEL = 0.1                  # chunks are voiced (above the quiet level the buffer sheds)


def chunk(seq: int, n: int = 960) -> np.ndarray:
    return np.full(n, LABEL + (seq % 1000) / 1000, dtype=np.float32)


def values(buffer: JitterBuffer, pulls: int) -> list[float | None]:
    out = []
    for _ in range(pulls):
        frame = buffer.pull(960)
        out.append(None if frame is None else round(float(frame[0]) - LABEL, 3))
    return out


def test_in_order_plays_in_order() -> None:
    buffer = JitterBuffer()
    for seq in (10, 11, 12):
        buffer.push(seq, chunk(seq))
    assert values(buffer, 4) == [0.01, 0.011, 0.012, None]


def test_reordered_chunks_are_put_back_in_order() -> None:
    buffer = JitterBuffer(prefill=1920)
    for seq in (1, 3, 2, 4):
        buffer.push(seq, chunk(seq))
    assert values(buffer, 4) == [0.001, 0.002, 0.003, 0.004]
    assert buffer.stats.lost == 0


def test_duplicates_and_late_chunks_are_dropped() -> None:
    buffer = JitterBuffer()
    assert buffer.push(5, chunk(5))
    assert not buffer.push(5, chunk(5))
    values(buffer, 1)
    assert not buffer.push(4, chunk(4))           # older than what played
    assert (buffer.stats.duplicate, buffer.stats.late) == (1, 1)


def test_a_lost_chunk_is_skipped_once_later_ones_pile_up() -> None:
    buffer = JitterBuffer(reorder_window=3)
    buffer.push(1, chunk(1))
    for seq in (3, 4, 5):                          # 2 never comes
        buffer.push(seq, chunk(seq))
    assert values(buffer, 4) == [0.001, 0.003, 0.004, 0.005]
    assert buffer.stats.lost == 1


def test_buffer_running_dry_skips_the_gap() -> None:
    buffer = JitterBuffer(reorder_window=10)
    buffer.push(1, chunk(1))
    buffer.push(3, chunk(3))
    assert values(buffer, 2) == [0.001, 0.003]
    assert buffer.stats.lost == 1


def test_sequence_wraps() -> None:
    buffer = JitterBuffer()
    top = 2**32 - 1
    assert seq_diff(0, top) == 1
    for seq in (top, 0, 1):
        buffer.push(seq, chunk(seq))
    assert len([v for v in values(buffer, 3) if v is not None]) == 3
    assert buffer.stats.lost == 0


def test_active_through_short_pauses_then_a_new_spurt_resyncs() -> None:
    buffer = JitterBuffer(hangover=5)
    buffer.push(100, chunk(100))
    values(buffer, 1)
    values(buffer, 3)
    assert buffer.active                           # a pause between words: stay ducked
    values(buffer, 3)
    assert not buffer.active
    buffer.push(7, chunk(7))                       # a new talker starts anywhere
    assert values(buffer, 1) == [0.007]


def test_prefill_delays_the_start() -> None:
    buffer = JitterBuffer(prefill=1920)
    buffer.push(1, chunk(1, 480))
    assert buffer.pull(960) is None
    buffer.push(2, chunk(2, 1920))
    frame = buffer.pull(960)
    assert frame is not None and frame[0] == np.float32(0.101) and frame[500] == np.float32(0.102)


def test_latency_is_bounded_by_dropping_the_oldest() -> None:
    buffer = JitterBuffer(max_pending=4800)
    for seq in range(1, 11):                      # 200 ms arrive at once
        buffer.push(seq, chunk(seq))
    assert values(buffer, 2) == [0.01, None]      # only the newest 20 ms is played
    assert buffer.stats.trimmed == 9 * 960



def test_delay_built_by_a_stall_is_shed_in_the_pauses_not_in_the_voice() -> None:
    buffer = JitterBuffer()                       # target: 20 ms prefill, 20 ms slack
    voiced = np.full(960, 0.5, dtype=np.float32)
    quiet = np.zeros(960, dtype=np.float32)
    for seq in range(10):                         # the speaker stalled 200 ms: 10 chunks wait
        buffer.push(seq, voiced if seq in (0, 4) else quiet)
    played = [buffer.pull(960) for _ in range(3)]
    assert [float(np.max(f)) for f in played] == [0.5, 0.5, 0.0]   # both voiced chunks play
    assert buffer.stats.shed == 7 * 960 and buffer.stats.trimmed == 0
    assert buffer.discarded == []
    assert buffer.pull(960) is None                # back to the 20 ms target at once


def test_a_long_stall_sheds_the_pauses_before_trimming_voice() -> None:
    buffer = JitterBuffer()                        # bound: 200 ms
    quiet = np.zeros(960, dtype=np.float32)
    for seq in range(12):                          # 240 ms wait, a marker of voice at 7
        buffer.push(seq, np.full(960, 0.5, dtype=np.float32) if seq == 7 else quiet)
    played = [buffer.pull(960) for _ in range(3)]
    assert buffer.stats.trimmed == 0 and any(f is not None and f[0] == np.float32(0.5) for f in played)


def test_voiced_backlog_is_not_shed_below_the_bound() -> None:
    buffer = JitterBuffer()
    for seq in range(6):
        buffer.push(seq, np.full(960, 0.2, dtype=np.float32))
    assert all(f is not None and f[0] == np.float32(0.2) for f in (buffer.pull(960) for _ in range(6)))
    assert buffer.stats.shed == 0


def test_pull_reports_where_each_chunk_starts_and_which_were_dropped() -> None:
    buffer = JitterBuffer(prefill=960, shed_above=0)
    buffer.push(1, np.full(480, 0.5, dtype=np.float32))
    buffer.push(2, np.full(960, 0.5, dtype=np.float32))
    buffer.pull(960)
    assert buffer.started == [(1, 0), (2, 480)]
    for seq in (3, 4, 5, 6):
        buffer.push(seq, np.zeros(960, dtype=np.float32))
    buffer.pull(960)                   # the rest of 2 (voiced: kept) and half of 3; 4, 5 shed
    assert buffer.started == [(3, 480)] and buffer.discarded == [(4, "shed"), (5, "shed")]
    buffer.pull(960)
    assert buffer.started == [(6, 480)] and buffer.discarded == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.integers(1, 3)), min_size=1,
                max_size=60))
def test_reported_starts_point_at_each_chunks_first_sample(steps) -> None:
    """Whatever is shed or trimmed, a chunk reported as started begins at its offset."""
    buffer = JitterBuffer()
    seq = 0
    labels: dict[int, float] = {}
    for pushes, voiced, length in steps:
        for _ in range(pushes):
            level = 0.1 + (seq % 500) / 1000 if voiced else 0.0
            samples = np.zeros(480 * length, dtype=np.float32)
            samples[:240] = level                      # voiced chunks open with their label
            labels[seq] = level
            buffer.push(seq, samples)
            seq += 1
        frame = buffer.pull(960)
        for started, offset in buffer.started:
            assert frame is not None and frame[offset] == np.float32(labels[started])
