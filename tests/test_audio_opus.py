"""Opus codec and voice packet envelope: round trip of a tone, bitrate cap, an Ogg file that
ffprobe reads, and bad input refused with a clear error."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from robot_dog.audio import opus
from robot_dog.audio.pcm import FRAME_SAMPLES

RATE = 48_000


def tone(freq_hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def encode_all(signal: np.ndarray, **kw) -> list[bytes]:
    enc = opus.OpusEncoder(**kw)
    return [p for i in range(0, len(signal), FRAME_SAMPLES) for p in enc.encode(signal[i:i + FRAME_SAMPLES])]


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum)) * RATE / len(samples)


@pytest.mark.parametrize("freq", [440.0, 1000.0])
def test_tone_round_trip_keeps_its_frequency(freq) -> None:
    packets = encode_all(tone(freq, 1.0))
    dec = opus.OpusDecoder()
    out = np.concatenate([dec.decode(p) for p in packets])
    assert abs(len(out) - RATE) <= FRAME_SAMPLES
    assert abs(peak_hz(out[4800:]) - freq) < 5
    assert np.sqrt(np.mean(out[4800:].astype(float) ** 2)) > 0.15 * 32767  # not silence


def test_bitrate_stays_under_32_kbit_s_even_for_noise() -> None:
    noise = (np.random.default_rng(1).normal(0, 0.3, RATE * 2) * 32767).clip(-32767, 32767)
    packets = encode_all(noise.astype(np.int16), bitrate_bps=opus.MAX_BITRATE_BPS)
    assert len(packets) == 100
    assert sum(map(len, packets)) * 8 / 2.0 <= opus.MAX_BITRATE_BPS * 1.05  # constrained VBR


def test_envelope_round_trip_and_bad_packets() -> None:
    packet = opus.VoicePacket(2**32 - 1, 1_700_000_000_123, b"\x01\x02")
    assert opus.unpack(opus.pack(packet)) == packet
    with pytest.raises(opus.OpusError, match="bytes"):
        opus.unpack(b"\x01" * opus.HEADER_BYTES)          # header only
    with pytest.raises(opus.OpusError, match="version"):
        opus.unpack(b"\x07" + b"\x00" * 20)
    with pytest.raises(opus.OpusError, match="undecodable"):
        opus.OpusDecoder().decode(b"\xff" * 5)
    with pytest.raises(opus.OpusError, match="960 int16"):
        opus.OpusEncoder().encode(np.zeros(100, np.int16))
    with pytest.raises(opus.OpusError, match="bitrate"):
        opus.OpusEncoder(bitrate_bps=64_000)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_packet_stream_is_an_ogg_opus_file_ffprobe_reads(tmp_path) -> None:
    path = tmp_path / "voice.ogg"
    opus.write_ogg(path, encode_all(tone(440.0, 1.0)))
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_name,sample_rate,channels:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=True).stdout)
    stream = probe["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("opus", "48000", 1)
    assert abs(float(probe["format"]["duration"]) - 1.0) < 0.05
