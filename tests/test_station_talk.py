"""Station talk relay (no broker): page PCM -> enveloped Opus packets on cmd/voice with rising
sequence numbers; dogs' mic packets -> PCM read by cursor, without gaps or repeats."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import opus
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRelay
from tests.test_audio_opus import encode_all, peak_hz, tone


def relay_with_log():
    sent: list[tuple[str, bytes, int, float]] = []
    return TalkRelay(lambda t, p, q, e: sent.append((t, p, q, e)), lambda: 42), sent


def test_page_pcm_becomes_voice_packets_for_the_dog() -> None:
    relay, sent = relay_with_log()
    pcm = tone(1000.0, 0.5).tobytes()
    n = relay.send_voice("dog1", pcm[:10_000]) + relay.send_voice("dog1", pcm[10_000:])
    assert n == len(sent) >= 24                       # 25 frames; remainders carried over
    assert {(t, q, e) for t, _, q, e in sent} == {("patrol/v1/dog1/cmd/voice", 0, 2.0)}
    packets = [opus.unpack(p) for _, p, _, _ in sent]
    assert [p.sequence for p in packets] == list(range(n))
    assert packets[0].captured_at_ms == 42
    dec = opus.OpusDecoder()
    out = np.concatenate([dec.decode(p.opus) for p in packets])
    assert abs(peak_hz(out[4800:]) - 1000.0) < 5
    with pytest.raises(ValueError):
        relay.send_voice("dog1", b"\x00" * 3)         # half a sample
    with pytest.raises(ValueError):
        relay.send_voice("dog1", b"\x00" * (MAX_VOICE_BYTES + 2))


def test_mic_packets_read_by_cursor() -> None:
    relay, _ = relay_with_log()
    assert relay.mic_since("dog1", -1) == (0, b"")
    wire = [opus.pack(opus.VoicePacket(i, 0, p)) for i, p in enumerate(encode_all(tone(440.0, 1.0)))]
    cursor, _ = relay.mic_since("dog1", -1)
    chunks = []
    for i, packet in enumerate(wire):
        relay.on_mic("dog1", packet)
        if i % 7 == 0:
            cursor, pcm = relay.mic_since("dog1", cursor)
            chunks.append(pcm)
    cursor, pcm = relay.mic_since("dog1", cursor)
    chunks.append(pcm)
    out = np.frombuffer(b"".join(chunks), "<i2")
    assert out.size == cursor == len(wire) * 960      # every sample exactly once
    assert abs(peak_hz(out[4800:]) - 440.0) < 5
    assert relay.mic_since("dog1", cursor) == (cursor, b"")
    with pytest.raises(opus.OpusError):
        relay.on_mic("dog1", b"junk")
