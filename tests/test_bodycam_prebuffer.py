"""The pre-event buffer holds compressed packets from a keyframe, at least `seconds` and at most
one GOP more, drops whole GOPs, and with 0 s holds nothing."""
from __future__ import annotations

import pytest

from robot_dog.bodycam.encoding import EncodedPacket
from robot_dog.bodycam.prebuffer import PreEventBuffer


def feed(buffer, seconds, fps=25, gop=25, start=0):
    for i in range(start, start + round(seconds * fps)):
        t = i / fps
        buffer.push(EncodedPacket("video", b"v" * 100, t, i % gop == 0, 1 / fps))
        buffer.push(EncodedPacket("audio", b"a" * 10, t, True, 1 / fps))


def test_spans_the_asked_time_plus_at_most_one_gop():
    buffer = PreEventBuffer(3.0)
    feed(buffer, 10.0)
    packets = buffer.drain()
    video = [p for p in packets if p.kind == "video"]
    assert video[0].key and packets[0] is video[0]
    newest = video[-1].t
    assert 3.0 <= newest - video[0].t <= 4.0
    assert len(video) == len({p.t for p in video}) == round((newest - video[0].t) * 25) + 1
    assert buffer.bytes == 0 and buffer.drain() == []


def test_bytes_follow_what_is_held():
    buffer = PreEventBuffer(1.0)
    feed(buffer, 5.0)
    held = buffer.drain()
    feed(buffer, 5.0, start=125)
    assert buffer.bytes == sum(len(p.data) for p in held)


def test_waits_for_a_keyframe_and_zero_holds_nothing():
    buffer = PreEventBuffer(2.0)
    feed(buffer, 0.5, start=1)            # frames 1..12: no keyframe yet
    assert buffer.drain() == []
    empty = PreEventBuffer(0.0)
    feed(empty, 2.0)
    assert empty.drain() == [] and empty.bytes == 0


def test_limits():
    for bad in (-1.0, 120.5):
        with pytest.raises(ValueError):
            PreEventBuffer(bad)
