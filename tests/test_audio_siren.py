"""Siren synthesis: ranges, periods, every tone within 100-5000 Hz, expiry and refresh."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import stft

from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.siren import Siren, SirenConfig, frequency_at
from robot_dog.payload.errors import RequestRefused


def render(tone: str, seconds: float) -> np.ndarray:
    siren = Siren()
    siren.set(tone, seconds + 1, now=0.0)
    return np.concatenate([siren.render(960, now=0.0) for _ in range(int(seconds / 0.02))])


def track(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times s, dominant frequency Hz) from a short-time spectrum of the rendered signal."""
    f, t, z = stft(signal, fs=RATE_HZ, nperseg=2048, noverlap=2048 - 480)
    return t, f[np.abs(z).argmax(axis=0)]


def sweep_period(t: np.ndarray, f: np.ndarray, min_s: float) -> float:
    """Period (s) of a frequency track: the highest autocorrelation at a lag above `min_s`."""
    x = f - f.mean()
    corr = np.correlate(x, x, mode="full")[len(x) - 1:] / np.arange(len(x), 0, -1)  # unbiased
    hop = float(np.median(np.diff(t)))
    first = int(min_s / hop)
    return (first + int(np.argmax(corr[first: len(x) // 2 + 1]))) * hop


@pytest.mark.parametrize("tone", ["wail", "yelp", "hilo"])
def test_every_tone_stays_within_100_5000_hz(tone: str) -> None:
    signal = render(tone, 6.0)
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / RATE_HZ)
    inside = spectrum[(freqs >= 100) & (freqs <= 5000)].sum()
    assert inside / spectrum.sum() > 0.999


def test_wail_sweeps_500_1650_hz_over_a_5_s_cycle() -> None:
    t, f = track(render("wail", 16.0))
    steady = (t > 0.1) & (t < 15.8)
    assert f[steady].min() == pytest.approx(500, abs=30)
    assert f[steady].max() == pytest.approx(1650, abs=30)
    assert sweep_period(t[steady], f[steady], min_s=1.0) == pytest.approx(5.0, abs=0.1)


def test_yelp_at_most_400_cycles_per_minute() -> None:
    signal = render("yelp", 3.0)
    inst = frequency_at("yelp", np.arange(len(signal)) / RATE_HZ)
    assert inst.min() >= 500 and inst.max() <= 1650
    rises = np.sum(np.diff(np.sign(np.diff(inst))) > 0)   # one trough per cycle
    cycles_per_min = rises / 3.0 * 60
    assert 200 <= cycles_per_min <= 400


def test_hilo_holds_each_tone_0_4_s() -> None:
    t, f = track(render("hilo", 4.0))
    high = f > 865
    edges = t[1:][np.diff(high.astype(int)) != 0]
    assert np.allclose(np.diff(edges), 0.4, atol=0.03)
    assert set(np.round(f[(t > 0.1) & (t < 3.9)] / 50) * 50) <= {950.0, 750.0, 800.0, 1000.0}


def test_phase_is_continuous_across_frames() -> None:
    signal = render("wail", 1.0)
    assert np.max(np.abs(np.diff(signal))) < 0.5 * 2 * np.pi * 1700 / RATE_HZ * 1.01


def test_expires_unless_refreshed() -> None:
    siren = Siren()
    siren.set("wail", 2.0, now=100.0)
    assert siren.render(960, now=101.9) is not None
    assert siren.render(960, now=102.0) is None and not siren.active(102.0)
    siren.set("yelp", 2.0, now=200.0)
    siren.set("yelp", 2.0, now=201.5)            # refresh
    assert siren.render(960, now=203.0) is not None
    assert siren.render(960, now=203.6) is None


def test_off_and_bad_requests() -> None:
    siren = Siren()
    siren.set("hilo", 0.0, now=0.0)               # 0 = default duration
    assert siren.expires_at == SirenConfig().default_duration_s
    siren.set("off", 0.0, now=1.0)
    assert siren.render(960, now=1.0) is None
    for tone, duration in (("horn", 1.0), ("wail", -1.0), ("wail", float("nan")), ("wail", 1e6)):
        with pytest.raises(RequestRefused):
            siren.set(tone, duration, now=0.0)


def test_config_refuses_limits_outside_the_rules() -> None:
    with pytest.raises(ValueError):
        SirenConfig(wail_period_s=3.0)
    with pytest.raises(ValueError):
        SirenConfig(yelp_period_s=0.1)            # 600 cycles/min
