"""Announcement queue: priority order, repeat with gaps, cancel, states and positions."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio.announcements import AnnouncementQueue, State
from robot_dog.payload.errors import RequestRefused


def clip(value: float, n: int = 1920) -> np.ndarray:
    return np.full(n, value, dtype=np.float32)


def drain(queue: AnnouncementQueue, frames: int) -> np.ndarray:
    out = [queue.render(960) for _ in range(frames)]
    return np.concatenate([f if f is not None else np.zeros(960, np.float32) for f in out])


def test_priority_then_arrival_order() -> None:
    queue = AnnouncementQueue(gap_s=0)
    low = queue.submit(clip(0.1), priority=0)
    first_high = queue.submit(clip(0.2), priority=5)
    second_high = queue.submit(clip(0.3), priority=5)
    assert [queue.status(i).position for i in (first_high, second_high, low)] == [1, 2, 3]
    played = drain(queue, 6)
    assert list(np.unique(played[::960][:6])) == pytest.approx([0.1, 0.2, 0.3])
    assert list(played[::1920][:3]) == pytest.approx([0.2, 0.3, 0.1])
    assert all(queue.status(i).state is State.DONE for i in (low, first_high, second_high))
    assert queue.render(960) is None and not queue.busy


def test_playing_item_is_not_cut_by_a_later_higher_one() -> None:
    queue = AnnouncementQueue(gap_s=0)
    first = queue.submit(clip(0.1))
    queue.render(960)
    urgent = queue.submit(clip(0.9), priority=100)
    assert queue.status(first).state is State.PLAYING and queue.status(first).progress == 0.5
    assert queue.status(urgent).position == 1
    assert queue.render(960)[0] == pytest.approx(0.1)
    assert queue.render(960)[0] == pytest.approx(0.9)


def test_repeat_plays_again_after_a_gap() -> None:
    queue = AnnouncementQueue(gap_s=0.02)          # 960 samples of silence between plays
    item = queue.submit(clip(0.5, 960), repeat=2)  # three plays
    played = drain(queue, 6)
    assert list(played[::960]) == pytest.approx([0.5, 0.0, 0.5, 0.0, 0.5, 0.0])
    assert queue.status(item).state is State.DONE and queue.status(item).progress == 1.0


def test_cancel_queued_and_playing() -> None:
    queue = AnnouncementQueue(gap_s=0)
    a, b, c = (queue.submit(clip(v)) for v in (0.1, 0.2, 0.3))
    queue.render(960)
    assert queue.cancel(b, "operator")             # queued: never plays
    assert queue.cancel(a)                         # playing: stops now
    assert queue.status(a).state is State.CANCELLED and queue.status(b).reason == "operator"
    assert queue.render(960)[0] == pytest.approx(0.3)
    assert not queue.cancel(a) and not queue.cancel(999)
    assert queue.status(c).state is State.PLAYING


def test_bad_input_refused_and_queue_keeps_working() -> None:
    queue = AnnouncementQueue(max_queued=2)
    with pytest.raises(RequestRefused, match="empty"):
        queue.submit(np.zeros(0, np.float32))
    queue.submit(clip(0.1))
    queue.submit(clip(0.2))
    with pytest.raises(RequestRefused, match="full"):
        queue.submit(clip(0.3))
    assert queue.render(960) is not None


def test_cancel_playing_names_the_reason() -> None:
    queue = AnnouncementQueue()
    item = queue.submit(clip(0.1))
    queue.render(960)
    assert queue.cancel_playing("speaker device failed") == item
    assert queue.status(item).reason == "speaker device failed"
    assert queue.cancel_playing("again") is None
