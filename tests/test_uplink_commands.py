"""The verb table: the `announce` verb (text + language, or clip) becomes an Announce goal."""
from __future__ import annotations

import pytest

from robot_dog.mqtt.talk_seal import WindowKey

from robot_dog.errors import Refused
from robot_dog.uplink import commands


def test_announce_text_defaults_to_english() -> None:
    goal = commands.plan("announce", {"text": "Keep the exit clear."})
    assert isinstance(goal, commands.ActionGoal)
    assert (goal.name, goal.action) == ("megaphone/announce", "robot_dog_interfaces/Announce")
    assert goal.fields == {"text": "Keep the exit clear.", "clip": "", "language": "en",
                           "priority": 0, "volume": 0.0, "repeat": 0}


def test_announce_mandarin_and_clip() -> None:
    assert commands.plan("announce", {"text": "请注意", "language": "cmn"}).fields["language"] == "cmn"
    goal = commands.plan("announce", {"clip": "chime_2", "priority": 50, "repeat": 2, "volume": 0.5})
    assert goal.fields["clip"] == "chime_2" and goal.fields["language"] == ""
    assert (goal.fields["priority"], goal.fields["repeat"], goal.fields["volume"]) == (50, 2, 0.5)


@pytest.mark.parametrize("args, words", [
    ({}, "either text or clip"), ({"text": "a", "clip": "b"}, "either text or clip"),
    ({"text": "   "}, "either text or clip"), ({"text": "x" * 1001}, "1000"),
    ({"text": "hi", "language": "fr"}, "language"), ({"clip": "../x"}, "clip"),
    ({"text": "hi", "priority": 200}, "priority"), ({"text": 5}, "text must be a string"),
    ({"text": "hi", "repeat": 9}, "repeat"),
])
def test_announce_bad_args(args: dict, words: str) -> None:
    with pytest.raises(Refused) as info:
        commands.plan("announce", args)
    assert info.value.code == "bad_args" and words in str(info.value)


def test_services_unchanged() -> None:
    assert commands.plan("siren", {"tone": "wail"}).service == "megaphone/siren"


@pytest.mark.parametrize("verb", ["listen", "talk"])
def test_listen_and_talk_open_a_bounded_window(verb: str) -> None:
    key = WindowKey.new()
    extra = key.args() if verb == "talk" else {}
    assert commands.plan(verb, {"seconds": 30, **extra}) == commands.AudioWindow(
        verb, 30.0, key if verb == "talk" else None)
    assert commands.plan(verb, {"seconds": 0}) == commands.AudioWindow(verb, 0.0)
    for args in ({}, {"seconds": 61}, {"seconds": -1}, {"seconds": True}, {"seconds": "5"},
                 {"seconds": 5, "volume": 1}):
        with pytest.raises(Refused) as err:
            commands.plan(verb, {**extra, **args} if args else args)
        assert err.value.code == "bad_args"


def test_a_talk_window_needs_its_id_and_key() -> None:
    """The dog plays only voice sealed for the window the signed command names."""
    good = WindowKey.new().args()
    for args in ({"seconds": 5}, {"seconds": 5, "window": good["window"]},
                 {"seconds": 5, "key": good["key"]},
                 {"seconds": 5, **good, "window": "XYZ"}, {"seconds": 5, **good, "key": "short"},
                 {"seconds": 5, **good, "window": good["window"].upper()}):
        with pytest.raises(Refused) as err:
            commands.plan("talk", args)
        assert err.value.code == "bad_args"
    with pytest.raises(Refused):
        commands.plan("listen", {"seconds": 5, **good})  # listen carries no key


def test_record_and_snapshot_call_the_recorder_as_the_station() -> None:
    call = commands.plan("record", {"reason": "incident 12", "lock": True})
    assert (call.service, call.srv) == ("bodycam/record", "robot_dog_interfaces/Record")
    assert call.fields == {"start": True, "reason": "incident 12", "lock": True, "source": "station"}
    assert commands.plan("record", {"start": False}).fields["start"] is False
    call = commands.plan("snapshot", {})
    assert (call.service, call.srv, call.fields) == (
        "bodycam/snapshot", "robot_dog_interfaces/Snapshot",
        {"reason": "operator_request", "source": "station"})
    for verb, args in (("record", {"start": "yes"}), ("record", {"lock": 1}),
                       ("record", {"reason": "x" * 121}), ("record", {"source": "officer"}),
                       ("snapshot", {"reason": 5}), ("snapshot", {"lock": True})):
        with pytest.raises(Refused) as err:
            commands.plan(verb, args)
        assert err.value.code == "bad_args", (verb, args)


def test_dispatch_verbs_are_goals_of_the_patrol_node() -> None:
    goto = commands.plan("goto", {"frame": "wgs84", "x": 31.23, "y": 121.47, "speed": 1.0})
    assert (goto.name, goto.action) == ("navigate_to", "robot_dog_interfaces/NavigateTo")
    assert goto.fields == {"frame": "wgs84", "x": 31.23, "y": 121.47, "speed": 1.0,
                           "tolerance_m": 0.0, "timeout_s": 0.0}
    home = commands.plan("return", {})
    assert (home.name, home.fields) == ("follow_route", {"route": "home"})
    assert commands.plan("patrol", {"loop": False}).fields == {
        "route": "patrol", "waypoints": (), "frame": "odom", "loop": False}
    cancel = commands.plan("cancel", {})
    assert (cancel.service, cancel.fields) == ("patrol/cancel", {"endpoint": "station"})
    for verb, args in (("goto", {"x": float("nan"), "y": 0.0}), ("goto", {"x": 1.0}),
                       ("goto", {"x": 1.0, "y": 2.0, "frame": "map"}), ("return", {"route": "x"}),
                       ("patrol", {"route": "downtown"}), ("goto", {"x": 1.0, "y": 2.0, "speed": 9})):
        with pytest.raises(Refused) as err:
            commands.plan(verb, args)
        assert err.value.code == "bad_args", (verb, args)


def test_patrol_walks_explicit_waypoints_given_instead_of_the_route() -> None:
    """The station's own route: [[x, y], ...] flat for the action, its named route left empty;
    hostile shapes and values are refused with the reason, never clamped."""
    route = commands.plan("patrol", {"route": "waypoints", "waypoints": [[1, 2], [3.5, -4]],
                                     "loop": False})
    assert route.fields == {"route": "", "waypoints": [1.0, 2.0, 3.5, -4.0], "frame": "odom",
                            "loop": False}
    geo = commands.plan("patrol", {"route": "waypoints", "waypoints": [[31.23, 121.47]],
                                   "frame": "wgs84"})
    assert geo.fields["frame"] == "wgs84" and geo.fields["route"] == ""
    too_many = [[float(i), 0.0] for i in range(65)]
    bad = ({"waypoints": too_many}, {"waypoints": [[1, float("nan")]]}, {"waypoints": [[1, 2, 3]]},
           {"waypoints": [[True, 2]]}, {"waypoints": [1, 2]}, {"waypoints": "1,2"},
           {"waypoints": [[1e7, 0]]}, {"waypoints": [{"x": 1, "y": 2}]})
    for args in ({"route": "patrol", "waypoints": [[1, 2]]}, {"waypoints": [[1, 2]]},
                 {"route": "waypoints"}, {"route": "waypoints", "waypoints": []},
                 *({"route": "waypoints", **a} for a in bad)):
        with pytest.raises(Refused) as err:
            commands.plan("patrol", args)
        assert err.value.code == "bad_args", args
