"""PCM edges: the resampler (libsoxr) is held to the one it replaced, scipy's resample_poly
(a test-only reference now): the same accuracy on tones in the pass band, the same rejection of
what the lower rate cannot carry, the same lengths; and the format checks of to_internal."""
from __future__ import annotations

from math import gcd

import numpy as np
import pytest
from scipy.signal import resample_poly

from robot_dog.audio import pcm


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def _reference(signal: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    g = gcd(from_hz, to_hz)
    return resample_poly(signal, to_hz // g, from_hz // g).astype(np.float32)


def _snr_db(out: np.ndarray, freq: float, rate: int) -> float:
    """Against the ideal tone at the new rate, away from the edges (both flush differently)."""
    ideal = _tone(freq, rate, len(out) / rate)[: len(out)]
    inner = slice(len(out) // 10, -len(out) // 10)
    error = out[inner] - ideal[inner]
    return 10 * np.log10(np.mean(ideal[inner] ** 2) / max(np.mean(error ** 2), 1e-30))


@pytest.mark.parametrize("from_hz, to_hz, freq", [
    (16_000, 48_000, 440.0), (16_000, 48_000, 6_000.0),     # handheld push-to-talk
    (22_050, 48_000, 1_000.0), (22_050, 48_000, 9_000.0),   # espeak-ng
    (44_100, 48_000, 15_000.0), (48_000, 16_000, 3_000.0), (8_000, 48_000, 3_000.0)])
def test_as_accurate_as_resample_poly_in_the_pass_band(from_hz: int, to_hz: int, freq: float) -> None:
    signal = _tone(freq, from_hz)
    ours, theirs = pcm.resample(signal, from_hz, to_hz), _reference(signal, from_hz, to_hz)
    assert len(ours) == len(theirs) == len(signal) * to_hz // from_hz
    assert ours.dtype == np.float32
    assert _snr_db(ours, freq, to_hz) >= min(_snr_db(theirs, freq, to_hz) - 1.0, 80.0)


@pytest.mark.parametrize("from_hz, to_hz, freq", [(48_000, 16_000, 10_000.0),
                                                  (48_000, 22_050, 15_000.0)])
def test_rejects_what_the_lower_rate_cannot_carry_as_well(from_hz: int, to_hz: int,
                                                         freq: float) -> None:
    signal = _tone(freq, from_hz)

    def leak_db(out: np.ndarray) -> float:
        inner = out[len(out) // 10: -len(out) // 10]
        return 20 * np.log10(max(float(np.sqrt(np.mean(inner ** 2))), 1e-12) / (0.5 / np.sqrt(2)))
    ours = leak_db(pcm.resample(signal, from_hz, to_hz))
    assert ours <= max(leak_db(_reference(signal, from_hz, to_hz)) + 1.0, -80.0)


def test_same_rate_and_empty_pass_through() -> None:
    signal = _tone(1000.0, 48_000, 0.02)
    assert np.array_equal(pcm.resample(signal, 48_000, 48_000), signal)
    assert pcm.resample(np.zeros(0, np.float32), 16_000, 48_000).size == 0


def test_to_internal_mixes_down_resamples_and_refuses_bad_formats() -> None:
    stereo = np.repeat((_tone(500.0, 16_000, 0.02) * 32767).astype(np.int16), 2)
    mono = pcm.to_internal(stereo, 16_000, 2)
    assert mono.dtype == np.float32 and len(mono) == 960
    with pytest.raises(ValueError):
        pcm.to_internal(np.zeros(3, np.int16), 16_000, 2)
    with pytest.raises(ValueError):
        pcm.to_internal(np.zeros(4, np.int16), 0, 1)


def test_samples_field_is_the_chunk_exactly_as_an_array_the_message_keeps() -> None:
    import array

    from robot_dog.audio.pcm import samples_field
    from robot_dog_interfaces.msg import AudioChunk
    chunk = np.array([-32768, -1, 0, 1, 32767] * 192, dtype=np.int16)   # one 20 ms frame
    field = samples_field(chunk[::-1][::-1])           # any view, even a non-contiguous one
    assert isinstance(field, array.array) and field.typecode == "h"
    msg = AudioChunk(sample_rate=48000, channels=1)
    msg.samples = field                                # an array is copied whole, not per sample
    assert np.array_equal(np.asarray(msg.samples, dtype=np.int16), chunk)
    assert np.array_equal(np.asarray(samples_field(chunk[::2]), np.int16), chunk[::2])
