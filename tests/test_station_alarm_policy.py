"""The station's alarm policy (robot_dog/alarm_policy.py): one table of event kinds ->
severity, applied by ingest to what the dogs send and used by the dog to fill the wire's field."""
from __future__ import annotations

import json

import pytest

from robot_dog.mqtt import schema
from robot_dog import alarm_policy as policy
from robot_dog.station.ingest import Ingest
from robot_dog.uplink.events import GOAL_ENDINGS, EventFactory


@pytest.mark.parametrize("type_,data,severity", [
    ("estop", {"engaged": True, "reason": "button"}, "critical"),
    ("estop", {"engaged": False}, "info"),
    ("sound", {"class": "glass_break", "level_dbfs": -6.0}, "critical"),
    ("sound", {"class": "shout"}, "critical"),
    ("sound", {"class": "impulse"}, "warning"),
    ("sound", {"class": "speech"}, "info"),           # a class the table does not name
    ("low_battery", {"percentage": 0.19}, "warning"),
    ("low_battery", {"percentage": 0.149}, "critical"),
    ("low_battery", {"percentage": 0.15}, "warning"),  # under 15 %, not at it
    ("offline", {"reason": "silent"}, "critical"),
    ("online", {}, "info"),
    ("goal", {"state": "blocked"}, "critical"),
    ("goal", {"state": "arrived"}, "info"),
    ("handheld", {"kind": "estop", "code": "ok"}, "warning"),
    ("handheld", {"kind": "light", "code": "refused"}, "warning"),
    ("handheld", {"kind": "light", "code": "ok"}, "info"),
    ("officer_task", {"state": "accepted"}, "info"),
])
def test_each_kind_has_its_severity(type_, data, severity):
    assert policy.severity_of(type_, data, reported="info" if severity != "info" else "critical") == severity


def test_the_critical_ones_of_the_issue_are_critical_and_every_entry_is_a_severity():
    critical = {k for k, v in policy.SEVERITY.items() if v == "critical"}
    assert {"estop.engaged", "sound.shout", "sound.glass_break", "low_battery.critical",
            "offline"} <= critical
    assert set(policy.SEVERITY.values()) <= set(policy.SEVERITIES)
    assert policy.BATTERY_CRITICAL < policy.BATTERY_WARNING


def test_every_way_a_goal_ends_has_its_own_entry():
    assert all(f"goal.{state}" in policy.SEVERITY for state in GOAL_ENDINGS)


@pytest.mark.parametrize("type_,data,reported,severity", [
    ("fault", {}, "critical", "critical"),            # not in the table: the dog's word stands
    ("recording", {}, "info", "info"),
    ("estop", {}, "warning", "warning"),              # the deciding fact is missing
    ("sound", {"level_dbfs": -3.0}, "critical", "critical"),
    ("low_battery", {"percentage": "low"}, "critical", "critical"),
    ("goal", {"state": "dancing"}, "info", "info"),
    ("fault", {}, "bogus", "warning"),
])
def test_without_the_deciding_fact_the_dogs_own_severity_stands(type_, data, reported, severity):
    assert policy.severity_of(type_, data, reported) == severity


def test_ingest_stores_the_policys_severity_and_keeps_what_the_dog_said():
    """A dog (older software) that calls a glass break a warning: stored critical, its word kept."""
    doc = EventFactory("dog1").make(1.0, "sound", "warning", "glass_break",
                                    {"class": "glass_break", "level_dbfs": -3.0, "confidence": 0.9})
    schema.check("event", doc)
    rows, _ = Ingest().handle("patrol/v1/dog1/events", json.dumps(doc).encode(), 2.0)
    stored = rows[0].doc
    assert stored["severity"] == "critical" and stored["reported_severity"] == "warning"
    agreeing = EventFactory("dog1").make(1.0, "estop", "critical", "e-stop", {"engaged": True})
    rows, _ = Ingest().handle("patrol/v1/dog1/events", json.dumps(agreeing).encode(), 2.0)
    assert rows[0].doc == agreeing, "a dog that agrees with the policy is stored as it sent it"


def test_a_dog_cannot_send_the_stations_own_alarm_types():
    doc = EventFactory("dog1").make(1.0, "offline", "critical", "fake")
    with pytest.raises(schema.SchemaError):
        schema.check("event", doc)
