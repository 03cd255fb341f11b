"""Street audio mixing (pure): events at their time, level by distance, deterministic."""
import math

import numpy as np
import pytest

from sim.scenario import load_scenario, parse_scenario
from sim.street_audio import SPEED_OF_SOUND, StreetMix, dbfs, gain_at, to_pcm16

SR = 16000
ONE_SHOUT = """\
name: t
seed: 1
geo_origin: {latitude: 36.6, longitude: 117.1}
route: [[1, 0], [0, 0]]
sounds:
  - {kind: shout, at: 2.0, pos: [0, 0], level_db: 100}
"""


def test_spherical_spreading_6_db_per_doubling():
    assert 20 * math.log10(gain_at(100, 2.0) / gain_at(100, 4.0)) == pytest.approx(6.02, abs=0.01)
    assert gain_at(120, 0.2) == pytest.approx(1.0)   # closer than 1 m counts as 1 m


def test_shout_arrives_at_its_time_plus_travel_time():
    mix = StreetMix(parse_scenario(ONE_SHOUT), SR)
    x = 34.3   # 0.1 s away
    before = mix.render(2.0, int(0.1 * SR) - 16, x, 0.0)
    during = mix.render(2.2, int(0.4 * SR), x, 0.0)
    after = mix.render(3.0, SR, x, 0.0)
    assert dbfs(before) == -math.inf and dbfs(after) == -math.inf
    assert dbfs(during) > -60
    assert x / SPEED_OF_SOUND == pytest.approx(0.1)


def test_nearer_is_louder_by_the_distance_law():
    mix = StreetMix(parse_scenario(ONE_SHOUT), SR)
    near = mix.render(2.1, 8000, 5.0, 0.0)
    far = mix.render(2.1 + 5.0 / SPEED_OF_SOUND, 8000, 10.0, 0.0)   # same part of the shout
    assert dbfs(near) - dbfs(far) == pytest.approx(6.0, abs=0.6)


def test_incident_scenario_is_deterministic_and_pcm_is_int16():
    scenario = load_scenario("incident")
    a = StreetMix(scenario, SR).render(12.0, 4000, 5.0, 2.0)
    b = StreetMix(scenario, SR).render(12.0, 4000, 5.0, 2.0)
    assert np.array_equal(a, b) and dbfs(a) > -50   # glass breaking 2.5 m away
    pcm = to_pcm16(a)
    assert len(pcm) == 8000 and max(abs(v) for v in np.frombuffer(pcm, "<i2")) <= 32767
