"""Payload contracts: schemas are valid, documented, found from the package, and name the bad field."""
import filecmp
import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from robot_dog.mqtt import schema, topics
from robot_dog.mqtt.schema import PayloadTooLarge, SchemaError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGED = Path(str(schema.schema_files()))

GOOD = {
    "telemetry": {"v": 1, "dog": "dog1", "ts": 1700000000.5, "seq": 7,
                  "pose": {"x": 1.0, "y": 2.0, "yaw": 0.1}, "battery": {"percentage": 0.8, "voltage_v": 48.1},
                  "age_s": {"battery": 0.2}, "video": {"frames_sent": 12},
                  "safety": {"estop": False, "mode": "crowd", "speed_cap": 0.5},
                  "payload": {"siren": {"tone": "wail"}}, "link": {"backlog_bytes": 0}},
    "event": {"v": 1, "dog": "dog1", "ts": 1700000000.0, "id": "evt-000001", "type": "low_battery",
              "severity": "warning", "data": {"percent": 14}},
    "command": {"v": 1, "dog": "dog1", "verb": "siren", "args": {"tone": "wail"},
                "issued_at": 1700000000000, "expires_at": 1700000010000,
                "nonce": "AAAAAAAAAAAAAAAAAAAAAA", "issuer": "alice", "sig": "A" * 86},
    "result": {"v": 1, "dog": "dog1", "ts": 1700000000.2, "ok": False, "code": "expired",
               "nonce": "AAAAAAAAAAAAAAAAAAAAAA", "verb": "siren", "sig": "A" * 86},
}


def _asyncapi() -> dict:
    return yaml.safe_load((DOCS / "asyncapi.yaml").read_text())


def test_every_schema_is_valid_2020_12_and_versioned():
    for name in schema.NAMES:
        doc = schema.load(name)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(doc)
        assert "v" in doc["required"] and doc["properties"]["v"] == {"const": 1, "description": "schema version"}


def test_docs_copy_is_identical_to_packaged_schemas():
    packaged = sorted(p.name for p in PACKAGED.glob("*.json"))
    assert packaged == sorted(f"{n}.json" for n in schema.NAMES)
    assert sorted(p.name for p in (DOCS / "schemas").glob("*.json")) == packaged
    _, mismatch, errors = filecmp.cmpfiles(PACKAGED, DOCS / "schemas", packaged, shallow=False)
    assert mismatch == [] and errors == [], "run: cp robot_dog/mqtt/schemas/*.json docs/schemas/"


def test_dog_pattern_matches_topic_tree():
    for name in schema.NAMES:
        text = json.dumps(schema.load(name))
        assert f'"^{topics.DOG_ID.pattern}$"' in text


def test_asyncapi_channels_reference_existing_valid_schemas():
    spec = _asyncapi()
    assert spec["asyncapi"].startswith("3.")
    referenced = set()
    for channel_name, channel in spec["channels"].items():
        # Every address is in the tree: fill the parameters and parse it.
        concrete = re.sub(r"\{(\w+)\}", lambda m: {"verb": "announce", "camera": "bodycam",
                                                   "source": "mic", "part": "chunk"}.get(m[1], "x1"),
                          channel["address"])
        assert topics.parse(concrete).dog == "x1", channel_name
        for message in channel["messages"].values():
            payload = message["payload"]
            if "schema" in payload:
                ref = payload["schema"]["$ref"]
                path = (DOCS / ref).resolve()
                assert path.is_file(), f"{channel_name}: {ref} missing"
                Draft202012Validator.check_schema(json.loads(path.read_text()))
                referenced.add(path.stem)
            else:
                assert message["contentType"] != "application/json", channel_name
    assert referenced == set(schema.NAMES)
    for op in spec["operations"].values():
        assert op["channel"]["$ref"].removeprefix("#/channels/") in spec["channels"]


def test_asyncapi_names_the_fixed_cameras_and_audio_sources():
    parameters = {name: p for c in _asyncapi()["channels"].values()
                  for name, p in c.get("parameters", {}).items()}
    assert tuple(parameters["camera"]["enum"]) == topics.CAMERAS
    assert tuple(parameters["source"]["enum"]) == topics.AUDIO_SOURCES
    assert tuple(parameters["part"]["enum"]) == topics.EVIDENCE_PARTS


def test_every_kind_of_the_tree_is_a_channel():
    kinds = {topics.parse(re.sub(r"\{(\w+)\}", "x", c["address"]).replace("cmd/x", "cmd/go")
                          .replace("video/x", "video/bodycam").replace("audio/x", "audio/mic")
                          .replace("evidence/x", "evidence/chunk")).kind
             for c in _asyncapi()["channels"].values()}
    assert kinds == set(topics.Kind)


@pytest.mark.parametrize("name", schema.NAMES)
def test_good_payloads_round_trip(name):
    data = schema.encode(name, GOOD[name])
    assert schema.decode(name, data) == GOOD[name]


@pytest.mark.parametrize("name, mutate, field", [
    ("telemetry", lambda d: d.pop("dog"), "dog"),
    ("telemetry", lambda d: d["battery"].update(percentage=1.4), "battery.percentage"),
    ("telemetry", lambda d: d["age_s"].update(pose=-1), "age_s.pose"),
    ("telemetry", lambda d: d["pose"].pop("yaw"), "pose.yaw"),
    ("telemetry", lambda d: d.update(speed=3), "speed"),
    ("telemetry", lambda d: d.update(v=2), "v"),
    ("telemetry", lambda d: d["safety"].update(mode="riot"), "safety.mode"),
    ("event", lambda d: d.update(type="party"), "type"),
    ("event", lambda d: d.update(dog="Dog 1"), "dog"),
    ("command", lambda d: d.update(verb="result"), "verb"),
    ("command", lambda d: d.update(expires_at=1.5), "expires_at"),
    ("command", lambda d: d.pop("nonce"), "nonce"),
    ("result", lambda d: d.update(ok="yes"), "ok"),
])
def test_bad_payload_names_the_field(name, mutate, field):
    obj = json.loads(json.dumps(GOOD[name]))
    mutate(obj)
    with pytest.raises(SchemaError) as info:
        schema.decode(name, json.dumps(obj).encode())
    assert info.value.field == field
    assert info.value.schema == name
    assert field in str(info.value)
    with pytest.raises(SchemaError):
        schema.encode(name, obj)


def test_oversized_payload_rejected_before_parsing():
    # Not even JSON: proves size is checked first.
    blob = b"\xff" * (schema.MAX_BYTES["telemetry"] + 1)
    with pytest.raises(PayloadTooLarge):
        schema.decode("telemetry", blob)
    big = dict(GOOD["event"], message="x" * 500, data={"pad": "y" * 20000})
    with pytest.raises(PayloadTooLarge):
        schema.encode("event", big)


@pytest.mark.parametrize("raw", [
    b"{", b"\xc3\x28", b'{"v": NaN}', b'{"v": 1, "v": 1}', b"[]",
])
def test_malformed_json_is_a_schema_error(raw):
    with pytest.raises(SchemaError):
        schema.decode("event", raw)


# -- the fast path validates what the 2020-12 schemas say ------------------------------------
#: Keywords that draft-07 (what fastjsonschema compiles these schemas as) and 2020-12 enforce
#: the same way. A schema keyword outside this set could be enforced by jsonschema and silently
#: ignored by the fast path, which alone decides acceptance.
SHARED_KEYWORDS = {
    "$schema", "$id", "$ref", "$defs", "$comment", "title", "description", "default", "examples",
    "type", "enum", "const", "properties", "required", "additionalProperties", "patternProperties",
    "propertyNames", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems",
    "maxItems", "uniqueItems", "contains", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    "items",   # one schema for every item only: a list is a tuple in draft-07, an error in 2020-12
}  # not "format": fastjsonschema asserts formats, 2020-12 only annotates them
_SUBSCHEMA_MAPS = {"properties", "$defs", "patternProperties", "dependentSchemas"}
_SUBSCHEMA = {"additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
              "items", "unevaluatedProperties", "unevaluatedItems", "contentSchema"}
_SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}


def schema_keywords(node) -> set[str]:
    """Every keyword used anywhere in a schema (keys of schema objects, not property names)."""
    found: set[str] = set()
    if not isinstance(node, dict):
        return found
    for key, value in node.items():
        found.add(key)
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                found |= schema_keywords(sub)
        elif key in _SUBSCHEMA:
            found |= schema_keywords(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            for sub in value:
                found |= schema_keywords(sub)
    return found


@pytest.mark.parametrize("name", schema.NAMES)
def test_schemas_use_only_keywords_the_fast_path_enforces(name):
    used = schema_keywords(schema.load(name))
    assert "type" in used and not used - SHARED_KEYWORDS, sorted(used - SHARED_KEYWORDS)
    assert '"items": [' not in json.dumps(schema.load(name)), "items: one schema, not a list"


def test_the_keyword_guard_is_needed_and_catches_2020_12_only_keywords():
    """fastjsonschema really ignores a 2020-12-only keyword that jsonschema enforces; the walker
    finds such keywords however deep they sit."""
    import fastjsonschema
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
           "properties": {"light": {"type": "object", "dependentRequired": {"on": ["pattern"]},
                                    "unevaluatedProperties": False}}}
    payload = {"light": {"on": True, "extra": 1}}
    fastjsonschema.compile(doc)(payload)                               # accepted: blind to both
    assert list(Draft202012Validator(doc).iter_errors(payload))        # refused by 2020-12
    assert {"dependentRequired", "unevaluatedProperties"} <= schema_keywords(doc) - SHARED_KEYWORDS
@pytest.mark.parametrize("raw", [
    b"[" * 1000 + b"]" * 1000,                           # RecursionError in CPython's parser
    b'{"a":' * 33 + b"1" + b"}" * 33,                     # one level over the bound
    b"[" * 100_000,                                      # unterminated, far too deep
])
def test_nesting_beyond_the_bound_is_refused_before_parsing(raw):
    with pytest.raises(schema.TooDeep, match="nested deeper than 32"):
        schema.strict_loads(raw, 1 << 20)
    with pytest.raises(SchemaError):  # every decoder of the tree refuses it the same way
        schema.decode("command", raw[:schema.MAX_BYTES["command"]])


def test_nesting_up_to_the_bound_and_brackets_in_strings_are_fine():
    assert schema.strict_loads(b'{"a":' * 31 + b"[1]" + b"}" * 31, 4096) is not None
    text = {"message": "[" * 500 + "{" * 500, "q": 'a \\" [[[['}
    assert schema.strict_loads(json.dumps(text).encode(), 4096) == text
