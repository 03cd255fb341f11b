"""The station's own offline/online alarms (robot_dog/station/link_watch.py), on a fake clock:
a dog heard up that goes offline or silent raises one critical `offline` event, one heard again
an `online` one; never an alarm for a dog that was never up here, nor twice for one outage."""
from __future__ import annotations

from robot_dog.station.link_watch import LinkWatch
from robot_dog.station.storage import EventRow, FrameRow, StatusRow, TelemetryRow


def telemetry(dog: str, t: float) -> TelemetryRow:
    return TelemetryRow(dog, t, {"v": 1, "dog": dog, "ts": t, "seq": int(t)})


def test_a_dog_that_falls_silent_raises_one_critical_offline_alarm_and_one_online_when_back():
    watch = LinkWatch(silent_after_s=15.0, boot="b00t")
    assert watch.row(StatusRow("dog1", "online", 100.0)) == []
    assert watch.row(telemetry("dog1", 101.0)) == []
    assert watch.tick(115.9) == [], "silent for 14.9 s: not yet"
    (down,) = watch.tick(116.5)
    assert isinstance(down, EventRow) and down.dog == "dog1"
    doc = down.doc
    assert (doc["type"], doc["severity"], doc["origin"]) == ("offline", "critical", "station")
    assert doc["data"] == {"reason": "silent", "silent_s": 15.5, "last_heard": 101.0}
    assert doc["id"] == "station-b00t-1" and doc["ts"] == 116.5
    assert watch.tick(130.0) == [], "one alarm per outage"
    assert watch.row(StatusRow("dog1", "offline", 146.0)) == [], "the Last Will, later: no news"
    (up,) = watch.row(telemetry("dog1", 150.0))
    assert (up.doc["type"], up.doc["severity"]) == ("online", "info")
    assert up.doc["data"] == {"offline_s": 33.5} and up.doc["id"] == "station-b00t-2"
    assert watch.row(telemetry("dog1", 150.5)) == []


def test_an_offline_status_raises_the_alarm_at_once_and_video_alone_is_not_the_dog_heard():
    watch = LinkWatch(silent_after_s=15.0)
    watch.row(telemetry("dog2", 10.0))
    (down,) = watch.row(StatusRow("dog2", "offline", 11.0))
    assert down.doc["data"]["reason"] == "status" and down.doc["severity"] == "critical"
    assert watch.row(FrameRow("dog2", "bodycam", 1000, 12.0)) == []
    assert watch.row(StatusRow("dog2", "online", 20.0))[0].doc["type"] == "online"


def test_no_alarm_for_a_dog_never_heard_up_nor_for_the_stations_own_events():
    watch = LinkWatch(silent_after_s=1.0)
    assert watch.row(StatusRow("dog3", "offline", 1.0)) == [], "offline when the station started"
    assert watch.tick(100.0) == []
    watch.row(telemetry("dog4", 1.0))
    (down,) = watch.tick(3.0)
    assert watch.row(down) == [], "its own alarm is not the dog heard again"
    assert watch.tick(10.0) == []


def test_ids_differ_across_station_restarts():
    a, b = LinkWatch(silent_after_s=1.0), LinkWatch(silent_after_s=1.0)
    for watch in (a, b):
        watch.row(telemetry("dog1", 0.0))
    assert a.tick(5.0)[0].doc["id"] != b.tick(5.0)[0].doc["id"]
