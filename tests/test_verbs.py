"""The verb registry: every client's command list is derived from it or checked against it."""
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from robot_dog import verbs
from robot_dog.audio.siren import TONES
from robot_dog.errors import Refused, RobotDogError
from robot_dog.payload.police_light import PATTERNS
from robot_dog.teleop import page_requests, protocol

DOCS = Path(__file__).resolve().parents[1] / "docs"


def refused(verb, args, sender=verbs.STATION):
    with pytest.raises(Refused) as info:
        verbs.check(verb, args, sender)
    return info.value.code


def test_enums_are_the_executors_own_tables():
    """Patterns and tones are imported from the cores that carry them out, never copied."""
    assert verbs.VERBS["police_light"].args["pattern"].choices == tuple(PATTERNS)
    assert verbs.VERBS["siren"].args["tone"].choices == ("off", *TONES)


def test_check_fills_defaults_and_refuses_with_codes():
    assert verbs.check("searchlight", {"level": 0.5}, verbs.STATION) == {
        "level": 0.5, "strobe": False, "duration_s": 0.0}
    assert refused("horn", {}) == "unknown_verb"
    assert refused("speed_mode", {"crowd": True}) == "not_allowed"     # the phone's alone
    assert refused("announce", {"text": "hi"}, verbs.HANDHELD) == "not_allowed"
    for args in ({"pattern": "disco"}, {"pattern": "Flash"}, {"pattern": "flash", "rate_hz": 11},
                 {"pattern": "flash", "rate_hz": True}, {"pattern": "flash", "rate_hz": float("nan")},
                 {"pattern": "flash", "colour": "red"}, {}, []):
        assert refused("police_light", args) == "bad_args", args
    assert refused("announce", {"text": "x", "priority": 200}) == "bad_args"  # officer's channel
    assert refused("announce", {"text": "x", "priority": 1.5}) == "bad_args"
    assert refused("estop_release", {"hold_id": "a/b"}) == "bad_args"
    # Arguments that do not go together: refused by the registry (the station, before signing).
    for verb, args in (("announce", {}), ("announce", {"text": " "}),
                       ("announce", {"text": "x", "clip": "siren_warning"}),
                       ("patrol", {"route": "patrol", "waypoints": [[1, 2]]}),
                       ("patrol", {"route": "waypoints"})):
        assert refused(verb, args) == "bad_args", (verb, args)
    assert verbs.check("patrol", {"route": "waypoints", "waypoints": [[1, 2]]}, verbs.STATION)
    assert isinstance(Refused("x"), RobotDogError)
    with pytest.raises(ValueError):
        Refused("Not A Code")


def test_request_names_the_sender_as_endpoint_and_renames_fields():
    assert verbs.request("estop", {}, verbs.HANDHELD) == {"reason": "", "endpoint": "handheld"}
    assert verbs.request("speed_mode", {"crowd": True}, verbs.HANDHELD) == {"data": True}


@pytest.mark.parametrize("name", list(verbs.PRESETS))
def test_every_preset_is_a_valid_command(name):
    preset = verbs.PRESETS[name]
    spec = verbs.VERBS[preset.verb]
    choices = preset.choices or getattr(spec.args.get(preset.pick), "choices", ()) if preset.pick else (None,)
    assert choices, name
    for choice in choices:
        args = {**preset.args, **({preset.pick: choice} if preset.pick else {})}
        sender = verbs.STATION if verbs.STATION in spec.senders else verbs.HANDHELD
        verbs.check(preset.verb, args, sender)


def test_light_on_is_one_pattern_from_the_phone_and_from_the_station():
    phone = page_requests.service_request("light", {"on": True})
    station = verbs.catalog(verbs.STATION)["presets"]["light_on"]
    assert phone == ("police_light/set", {"pattern": station["args"]["pattern"], "rate_hz": 0.0,
                                          "duration_s": 0.0, "caller": ""})
    assert station["args"] == {"pattern": "alternate"}


def test_a_payload_request_from_the_phone_names_its_officer_never_from_its_args():
    for kind in ("light", "searchlight"):
        _, fields = page_requests.service_request(kind, {"on": True}, "王警官")
        assert fields["caller"] == "王警官"
    with pytest.raises(Refused) as info:   # a station command cannot name another caller
        verbs.check("police_light", {"pattern": "off", "caller": "chief"}, verbs.STATION)
    assert info.value.code == "bad_args"


def test_every_handheld_request_is_a_verb_the_phone_may_send():
    """The teleop page's frame types (protocol.TYPES) are either the link itself or a verb of
    the registry; each maps to a service the handheld may call, with checked arguments."""
    assert set(protocol.TYPES) <= set(page_requests.LINK_KINDS) | set(page_requests.PAGE_REQUESTS)
    samples = {"mode": {"mode": "sit"}, "speed": {"crowd": True}}
    for kind in page_requests.PAGE_REQUESTS:
        for on in (True, False):
            name, fields = page_requests.service_request(kind, samples.get(kind, {"on": on}))
            assert name in verbs.services(verbs.HANDHELD)
    with pytest.raises(Refused) as info:
        page_requests.service_request("mode", {"mode": "dance"})
    assert info.value.code == "bad_args"


def test_catalog_is_json_with_valid_schemas_and_station_buttons():
    doc = json.loads(json.dumps(verbs.catalog(verbs.STATION)))
    names = {v["name"] for v in doc["verbs"]}
    assert "speed_mode" not in names and "drive" not in names and "police_light" in names
    for verb in doc["verbs"]:
        Draft202012Validator.check_schema(verb["args"])
        assert set(verbs.COMMON_REFUSALS) <= set(verb["refusals"])
    shown = [p for row in doc["station"]["rows"] for p in row["presets"]] + doc["station"]["safety"]
    for name in shown:
        assert doc["presets"][name]["verb"] in names, name
    assert doc["presets"]["siren_on"]["pick"] == {"arg": "tone", "choices": list(TONES)}


def test_json_schema_agrees_with_check():
    """A command the schema accepts passes `check`, and the reverse, on a few hostile ones."""
    spec = verbs.VERBS["searchlight"]
    validator = Draft202012Validator(spec.schema())
    for args in ({}, {"level": 1}, {"level": 1.5}, {"level": "1"}, {"strobe": 1}, {"x": 1}):
        try:
            verbs.check("searchlight", args, verbs.STATION)
            ok = True
        except Refused:
            ok = False
        assert ok == validator.is_valid(args), args


def test_docs_table_is_generated_from_the_registry():
    """docs/verbs.md: `python -m robot_dog.verbs > docs/verbs.md` after changing a verb."""
    assert (DOCS / "verbs.md").read_text() == verbs.markdown()


def test_served_names_the_verbs_whose_executor_is_up_and_the_telemetry_carries_it():
    """The uplink's `served` section: a verb counts when its service or action server is up
    (the megaphone down: no siren, no announcement); listen and talk are the uplink's own."""
    from robot_dog.mqtt import schema

    up = {"police_light/set", "searchlight/set", "bodycam/record", "estop/engage"}
    served = verbs.served(verbs.STATION, lambda name: name in up)
    assert served == ["police_light", "searchlight", "estop", "listen", "talk", "record"]
    assert verbs.served(verbs.HANDHELD, lambda name: True) == [
        v.name for v in verbs.VERBS.values() if verbs.HANDHELD in v.senders
        and not isinstance(v.executor, (verbs.Window, verbs.Topic))]
    doc = {"v": 1, "dog": "dog1", "ts": 1.0, "seq": 1, "served": served}
    assert schema.decode("telemetry", json.dumps(doc).encode())["served"] == served
    for bad in (["<b>siren</b>"], ["siren", "siren"], "siren"):
        with pytest.raises(schema.SchemaError):
            schema.decode("telemetry", json.dumps({**doc, "served": bad}).encode())
