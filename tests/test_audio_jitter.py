"""Jitter buffer: order, duplicates, late chunks, gaps, wrap-around, talk spurts."""
from __future__ import annotations

import numpy as np

from robot_dog.audio.jitter import JitterBuffer, seq_diff


def chunk(seq: int, n: int = 960) -> np.ndarray:
    return np.full(n, (seq % 1000) / 1000, dtype=np.float32)


def values(buffer: JitterBuffer, pulls: int) -> list[float | None]:
    out = []
    for _ in range(pulls):
        frame = buffer.pull(960)
        out.append(None if frame is None else round(float(frame[0]), 3))
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
    assert frame is not None and frame[0] == np.float32(0.001) and frame[500] == np.float32(0.002)


def test_latency_is_bounded_by_dropping_the_oldest() -> None:
    buffer = JitterBuffer(max_pending=4800)
    for seq in range(1, 11):                      # 200 ms arrive at once
        buffer.push(seq, chunk(seq))
    assert values(buffer, 2) == [0.01, None]      # only the newest 20 ms is played
    assert buffer.stats.trimmed == 9 * 960

