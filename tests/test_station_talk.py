"""Station talk relay (no broker): page PCM -> enveloped Opus packets on cmd/voice with rising
sequence numbers; dogs' mic packets -> PCM read by cursor, without gaps or repeats."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import opus
from robot_dog.mqtt.talk_seal import WindowKey, open_sealed
from robot_dog.station.talk import MAX_VOICE_BYTES, TalkRefused, TalkRelay
from tests.test_audio_opus import encode_all, peak_hz, tone


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def relay_with_log(clock=None):
    sent: list[tuple[str, bytes, int, float]] = []
    return TalkRelay(lambda t, p, q, e: sent.append((t, p, q, e)), lambda: 42,
                     clock or Clock()), sent


def test_page_pcm_becomes_voice_packets_for_the_dog() -> None:
    relay, sent = relay_with_log()
    args = relay.command_args("dog1", "talk", {"seconds": 30}, "alice")
    key = WindowKey.from_args(args)
    pcm = tone(1000.0, 0.5).tobytes()
    n = (relay.send_voice("dog1", pcm[:10_000], "alice")
         + relay.send_voice("dog1", pcm[10_000:], "alice"))
    assert n == len(sent) >= 24                       # 25 frames; remainders carried over
    assert {(t, q, e) for t, _, q, e in sent} == {("patrol/v1/dog1/cmd/voice", 0, 2.0)}
    packets = [opus.unpack(open_sealed(key, p)) for _, p, _, _ in sent]
    assert [p.sequence for p in packets] == list(range(n))
    assert packets[0].captured_at_ms == 42
    dec = opus.OpusDecoder()
    out = np.concatenate([dec.decode(p.opus) for p in packets])
    assert abs(peak_hz(out[4800:]) - 1000.0) < 5
    with pytest.raises(ValueError):
        relay.send_voice("dog1", b"\x00" * 3, "alice")         # half a sample
    with pytest.raises(ValueError):
        relay.send_voice("dog1", b"\x00" * (MAX_VOICE_BYTES + 2), "alice")


def test_a_talk_window_is_its_openers() -> None:
    clock = Clock()
    relay, sent = relay_with_log(clock)
    frame = tone(1000.0, 0.1).tobytes()
    with pytest.raises(TalkRefused) as err:  # no window: refused before anything is allocated
        relay.send_voice("dog-nobody-knows", frame, "alice")
    assert err.value.code == "no_talk_window" and relay._windows == {} and sent == []
    args = relay.command_args("dog1", "talk", {"seconds": 10}, "alice")
    assert set(args) == {"seconds", "window", "key"} and args["seconds"] == 10
    with pytest.raises(TalkRefused) as err:
        relay.command_args("dog1", "talk", {"seconds": 10}, "bob")
    assert err.value.code == "talk_busy" and err.value.status == 409
    with pytest.raises(TalkRefused) as err:
        relay.send_voice("dog1", frame, "bob")
    assert err.value.code == "not_your_talk_window"
    assert relay.send_voice("dog1", frame, "alice") > 0
    # Refreshing keeps the window (and key); other verbs pass untouched.
    assert relay.command_args("dog1", "talk", {"seconds": 10}, "alice") == args
    assert relay.command_args("dog1", "siren", {"tone": "wail"}, "bob") == {"tone": "wail"}
    for bad in ({"seconds": 61}, {"seconds": "5"}, {"seconds": True}):  # the dog says bad_args
        assert relay.command_args("dog2", "talk", bad, "bob") == bad and "dog2" not in relay._windows
    with pytest.raises(TalkRefused):  # the station names the window, never the caller
        relay.command_args("dog1", "talk", {"seconds": 10, "key": "x" * 43}, "alice")
    # Anyone may close it; then bob opens his own, with a new key.
    assert relay.command_args("dog1", "talk", {"seconds": 0}, "bob") == {"seconds": 0}
    bobs = relay.command_args("dog1", "talk", {"seconds": 10}, "bob")
    assert bobs["window"] != args["window"] and bobs["key"] != args["key"]
    # A lapsed window is nobody's: its key is never used again.
    clock.now += 10.0
    with pytest.raises(TalkRefused) as err:
        relay.send_voice("dog1", frame, "bob")
    assert err.value.code == "no_talk_window"
    assert relay.command_args("dog1", "talk", {"seconds": 5}, "alice")["window"] != bobs["window"]


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
