"""Two-way talk core on a fake clock: windows open, refresh, close and lapse; mic packets only
while listening (fresh sequence per session); voice packets only inside a talk window."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import opus
from robot_dog.audio.pcm import FRAME_SAMPLES
from robot_dog.mqtt import talk_seal
from robot_dog.mqtt.talk_seal import WindowKey
from robot_dog.uplink import talk
from robot_dog.uplink.commands import AudioWindow
from tests.test_audio_opus import encode_all, peak_hz, tone


def test_window_lapses_unless_refreshed_and_closes_at_zero() -> None:
    w = talk.Window()
    assert not w.live(0.0)
    w.set(10.0, now=100.0)
    assert w.live(109.9) and not w.live(110.0)
    w.set(10.0, now=105.0)           # refresh
    assert w.live(114.0)
    w.set(0.0, now=106.0)            # close
    assert not w.live(106.0)


def test_mic_packets_only_while_listening_with_a_fresh_stream_each_time() -> None:
    mic = talk.MicOut(wall_ms=lambda: 1_700_000_000_000)
    chunk = tone(500.0, 0.02)  # whole cycles per chunk: repeating it stays a clean tone
    assert mic.feed(chunk, now=0.0) == []                     # not listening
    mic.window.set(1.0, now=0.0)
    packets = [p for i in range(50) for p in mic.feed(chunk, now=i * 0.02)]
    assert mic.feed(chunk, now=1.0) == []                     # lapsed
    seqs = [opus.unpack(p).sequence for p in packets]
    assert seqs == list(range(len(seqs))) and len(seqs) >= 48
    assert opus.unpack(packets[0]).captured_at_ms == 1_700_000_000_000
    dec = opus.OpusDecoder()
    pcm = np.concatenate([dec.decode(opus.unpack(p).opus) for p in packets])
    assert abs(peak_hz(pcm[4800:]) - 500.0) < 5
    mic.window.set(1.0, now=2.0)
    assert opus.unpack(mic.feed(np.concatenate([chunk] * 3), now=2.0)[0]).sequence == 0


def test_mic_rebuffers_odd_chunk_sizes_into_20_ms_frames() -> None:
    mic = talk.MicOut(wall_ms=lambda: 0)
    mic.window.set(5.0, now=0.0)
    out = [p for _ in range(10) for p in mic.feed(np.zeros(480, np.int16), now=0.0)]
    assert len(out) in (4, 5)  # 10 x 10 ms = 5 frames (the encoder may hold the first)


def sealed(key: WindowKey, sequences=None) -> list[bytes]:
    packets = encode_all(tone(1000.0, 0.4))
    sequences = range(len(packets)) if sequences is None else sequences
    return [talk_seal.seal(key, opus.pack(opus.VoicePacket(i, 0, p))) for i, p in zip(sequences, packets)]


def test_voice_accepted_only_inside_the_talk_window() -> None:
    voice, key = talk.VoiceIn(), WindowKey.new()
    wire = sealed(key)
    with pytest.raises(talk.VoiceRefused) as err:
        voice.accept(wire[0], now=0.0)
    assert err.value.code == "no_talk_window"
    voice.open(AudioWindow("talk", 5.0, key), now=0.0)
    assert voice.refused_run == 1
    got = [voice.accept(p, now=1.0) for p in wire]
    assert voice.refused_run == 0
    assert [s for s, _ in got] == list(range(len(wire)))
    assert all(pcm.size == FRAME_SAMPLES for _, pcm in got)
    with pytest.raises(talk.VoiceRefused) as err:
        voice.accept(b"\x01\x00", now=1.0)
    assert err.value.code == "bad_packet"
    with pytest.raises(talk.VoiceRefused):
        voice.accept(wire[0], now=5.0)                        # lapsed
    assert voice.refused == {"no_talk_window": 2, "bad_packet": 1}
    assert voice.accepted == len(wire)


def test_only_packets_sealed_for_this_window_in_order_play() -> None:
    """Another station credential (no key), a recording from an earlier window, a changed
    byte and a replay inside the window are all refused, each with its reason."""
    voice, first, second = talk.VoiceIn(), WindowKey.new(), WindowKey.new()
    voice.open(AudioWindow("talk", 30.0, first), now=0.0)
    recording = sealed(first)
    assert [voice.accept(p, now=1.0)[0] for p in recording[:5]] == [0, 1, 2, 3, 4]
    for packet, reason in [
            (recording[2], "replayed"),                                       # inside the window
            (recording[4], "replayed"),
            (sealed(WindowKey(first.window, bytes(32)))[5], "bad_tag"),       # guessed key
            (recording[5][:-1] + bytes([recording[5][-1] ^ 1]), "bad_tag"),    # one bit changed
            (recording[5][:20] + bytes([recording[5][20] ^ 0xFF]) + recording[5][21:], "bad_tag")]:
        with pytest.raises(talk.VoiceRefused) as err:
            voice.accept(packet, now=1.0)
        assert err.value.code == reason
    assert voice.accept(recording[5], now=1.0)[0] == 5                     # gaps are fine
    # The same operator refreshes: the window, its key and sequence go on.
    voice.open(AudioWindow("talk", 30.0, first), now=2.0)
    assert voice.accept(recording[6], now=2.0)[0] == 6
    # Closed and a new window opened: the whole recording of the first is refused.
    voice.open(AudioWindow("talk", 0.0), now=3.0)
    voice.open(AudioWindow("talk", 30.0, second), now=3.0)
    for packet in recording:
        with pytest.raises(talk.VoiceRefused) as err:
            voice.accept(packet, now=4.0)
        assert err.value.code == "wrong_window"
    assert voice.accept(sealed(second)[0], now=4.0)[0] == 0