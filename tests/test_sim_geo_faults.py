import pytest

from sim.faults import FaultSchedule
from sim.geo import to_geodetic
from sim.scenario import FaultEvent, GeoOrigin


def test_one_degree_of_latitude_is_about_111_km():
    origin = GeoOrigin(36.6512, 117.1201, 30.0)
    lat, lon, alt = to_geodetic(origin, 0.0, 0.0, 0.0)
    assert (lat, lon, alt) == (36.6512, 117.1201, 30.0)
    lat, _, _ = to_geodetic(origin, 0.0, 110_960.0)
    assert lat - 36.6512 == pytest.approx(1.0, abs=0.005)
    _, lon, _ = to_geodetic(origin, 1000.0, 0.0)     # 1 km east at 36.65 deg N
    assert (lon - 117.1201) * 111_320 * 0.8024 == pytest.approx(1000.0, rel=0.01)


def test_faults_start_and_end_once_in_time_order():
    loss = FaultEvent("camera_loss", at=5.0, duration=2.0, value=0.0)
    battery = FaultEvent("low_battery", at=3.0, duration=0.0, value=0.15)
    schedule = FaultSchedule((loss, battery))
    assert schedule.advance(2.9) == []
    assert [(c.fault.kind, c.active) for c in schedule.advance(5.0)] == [
        ("low_battery", True), ("camera_loss", True)]
    assert schedule.active("camera_loss") and schedule.advance(6.0) == []
    assert [(c.fault.kind, c.active) for c in schedule.advance(7.0)] == [("camera_loss", False)]
    assert not schedule.active("camera_loss") and schedule.active("low_battery")
