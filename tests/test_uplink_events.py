"""Uplink cores: event ids and detectors, telemetry sections, verbs -> service calls."""
import math

import pytest

from robot_dog.mqtt import schema
from robot_dog.errors import Refused
from robot_dog.uplink import commands, telemetry as tm
from robot_dog.uplink.events import EstopWatch, EventFactory, LowBattery, forwarded


def test_event_ids_unique_across_boots_and_valid():
    a, b = EventFactory("dog1"), EventFactory("dog1")
    docs = [a.make(1.0, "estop", "critical", "x", {"engaged": True}) for _ in range(3)]
    docs.append(b.make(1.0, "info", "info"))
    assert len({d["id"] for d in docs}) == 4
    for doc in docs:
        schema.check("event", doc)


def test_estop_events_only_on_change():
    watch = EstopWatch()
    assert watch.update(False, "") is None          # starting released is not news
    assert watch.update(True, "button")[0] == "critical"
    assert watch.update(True, "button") is None
    assert watch.update(False, "")[0] == "info"
    assert EstopWatch().update(True, "boot")[0] == "critical"


def test_low_battery_hysteresis():
    low = LowBattery(levels=(0.2,), margin=0.05)
    seen = [low.update(p) for p in (0.5, 0.19, 0.18, 0.21, 0.19, 0.26, 0.19)]
    assert seen == [False, True, False, False, False, False, True]


def test_low_battery_warns_at_20_and_again_critical_under_15_percent():
    """The alarm policy's two levels: one event crossing each, one for a fall through both."""
    from robot_dog.alarm_policy import severity_of
    low = LowBattery()
    levels = (0.5, 0.19, 0.18, 0.16, 0.14, 0.13, 0.155, 0.14, 0.21, 0.19, 0.26, 0.10)
    fired = [p for p in levels if low.update(p)]
    # 0.14 again after 0.155 is the same critical crossing (re-armed only above 0.20); 0.19
    # after 0.21 the same warning (re-armed only above 0.25); 0.10 from 0.26 both at once
    assert fired == [0.19, 0.14, 0.10]
    assert [severity_of("low_battery", {"percentage": p}) for p in fired] == [
        "warning", "critical", "critical"]


def test_sections_are_schema_valid_and_drop_nan():
    state = tm.TelemetryState("dog1")
    state.update("pose", tm.pose_section(1, 2, 0, 0, 0, math.sin(0.25), math.cos(0.25)), 1.0)
    state.update("battery", tm.battery_section(float("nan"), 24.0, float("nan"), 30.0, False), 1.0)
    state.update("payload.police_light", tm.police_light_section("flash", True, False), 1.0)
    state.update("payload.searchlight", tm.searchlight_section(0.5, False, float("nan"), False), 1.0)
    state.update("payload.bodycam", tm.recorder_section("recording", "estop"), 1.0)
    state.update("safety", tm.safety_section(True, "button"), 1.0)
    doc = state.snapshot(2.0)
    schema.check("telemetry", doc)
    assert doc["pose"]["yaw"] == pytest.approx(0.5)
    assert "percentage" not in doc["battery"] and "current_a" not in doc["battery"]
    assert doc["payload"]["police_light"] == {"pattern": "flash", "on": True}
    assert doc["age_s"]["payload.searchlight"] == 1.0


@pytest.mark.parametrize("verb,args,service,fields", [
    ("police_light", {"pattern": "flash"}, "police_light/set", {"pattern": "flash", "rate_hz": 0.0, "duration_s": 0.0}),
    ("searchlight", {"level": 0.5, "strobe": True}, "searchlight/set", {"level": 0.5, "strobe": True, "duration_s": 0.0}),
    ("siren", {"tone": "wail"}, "megaphone/siren", {"tone": "wail", "max_duration_s": 30.0}),
    ("estop", {}, "estop/engage", {"endpoint": "station", "reason": "station"}),
    ("estop_release", {}, "estop/release", {"endpoint": "station", "hold_id": "", "issued_at": 0.0}),
    ("estop_release", {"hold_id": "a1b2"}, "estop/release",
     {"endpoint": "station", "hold_id": "a1b2", "issued_at": 0.0}),
    ("resume", {"input": "patrol"}, "motion/resume", {"input": "patrol", "endpoint": "station"}),
    ("checkin", {}, "estop/check_in", {"endpoint": "station", "timeout_s": 2.0}),
    ("mode", {"mode": "stand"}, "mode/set", {"mode": "stand"}),
    ("checkin", {"leave": True}, "estop/check_in", {"endpoint": "station", "timeout_s": 0.0}),
])
def test_verbs_map_to_services(verb, args, service, fields):
    call = commands.plan(verb, args)
    assert call.service == service and call.fields == fields


@pytest.mark.parametrize("verb,args,code", [
    ("launch_missiles", {}, "unknown_verb"),
    ("police_light", {"pattern": "disco"}, "bad_args"),
    ("searchlight", {"level": 2}, "bad_args"),
    ("searchlight", {"level": True}, "bad_args"),
    ("searchlight", {"level": 0.5, "strobe": "yes"}, "bad_args"),
    ("siren", {}, "bad_args"),
    ("estop_release", {"endpoint": "admin"}, "bad_args"),   # the station cannot act as admin
    ("estop_release", {"hold_id": "x" * 40}, "bad_args"),
    ("estop_release", {"hold_id": "../"}, "bad_args"),
    ("resume", {}, "bad_args"),
    ("resume", {"input": "patrol", "endpoint": "admin"}, "bad_args"),
    ("resume", {"input": 3}, "bad_args"),
    ("checkin", {"timeout_s": 60}, "bad_args"),
    ("checkin", {"leave": "yes"}, "bad_args"),
    ("mode", {"mode": "run"}, "bad_args"),
])
def test_bad_commands_have_codes(verb, args, code):
    with pytest.raises(Refused) as info:
        commands.plan(verb, args)
    assert info.value.code == code


def test_a_goal_ending_is_one_event_and_a_latched_ending_heard_first_is_none():
    from robot_dog.uplink.events import GoalWatch
    restarted = GoalWatch()
    assert restarted.update("navigate_to odom", "arrived", "") is None   # heard again after a restart
    watch = GoalWatch()
    assert watch.update("", "idle", "") is None
    assert watch.update("navigate_to odom", "active", "") is None
    assert watch.update("navigate_to odom", "blocked", "no progress") == (
        "critical", "navigate_to odom: blocked (no progress)")
    assert watch.update("navigate_to odom", "blocked", "no progress") is None   # the 1 Hz repeat
    assert watch.update("return home", "active", "") is None
    severity, text = watch.update("return home", "arrived", "")
    assert severity == "info" and text == "return home: arrived"
    event = EventFactory("dog1").make(1.0, "goal", severity, text, {"label": "return home"})
    schema.check("event", event)


def test_the_officers_task_answer_goes_to_the_station_in_its_fixed_shape():
    text = ('{"type": "officer_task", "severity": "info", "message": "incident inc-7: accepted", '
            '"data": {"incident": "inc-7", "officer": "王警官", "state": "accepted"}}')
    type_, severity, message, data = forwarded(text)
    doc = EventFactory("dog1").make(1.0, type_, severity, message, data)
    schema.check("event", doc)
    assert doc["type"] == "officer_task"
    assert doc["data"] == {"incident": "inc-7", "officer": "王警官", "state": "accepted"}
    handheld = forwarded('{"type": "handheld", "severity": "warning", "message": "e-stop", '
                         '"data": {"officer": "王警官", "kind": "estop", "code": "ok"}}')
    schema.check("event", EventFactory("dog1").make(1.0, *handheld))


@pytest.mark.parametrize("text", [
    '{"type": "estop", "severity": "critical", "data": {}}',          # not a forwarded type
    '{"type": "handheld", "severity": "fatal", "data": {}}',
    '{"type": "handheld", "data": {"nested": {"a": 1}}}',
    '{"type": "handheld", "data": {}, "id": "forged-id-0001"}',       # the uplink names events
    '{"type": "handheld", "type": "officer_task"}',                   # duplicate keys
    '[]', 'not json', '{"type": "handheld", "message": "' + "x" * 3000 + '"}'])
def test_anything_else_on_teleop_events_is_never_sent(text):
    with pytest.raises(ValueError):
        forwarded(text)
