"""Scenario files: the bundled ones load; every error names file, line and field."""
import pytest

from sim.scenario import SCENARIO_DIR, ScenarioError, load_scenario, parse_scenario

GOOD = """\
name: t
seed: 3
geo_origin: {latitude: 36.6, longitude: 117.1}
route: [[1, 0], [0, 0]]
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
def test_bundled_scenarios_load(name):
    scenario = load_scenario(name)
    assert scenario.name == name and len(scenario.route) >= 2


def test_bundled_set_covers_the_street():
    names = {p.stem for p in SCENARIO_DIR.glob("*.yaml")}
    assert {"plaza_day", "street_night", "pedestrians", "incident"} <= names
    assert load_scenario("street_night").lighting == "night"
    assert len(load_scenario("pedestrians").people) >= 4
    assert {s.kind for s in load_scenario("incident").sounds} >= {"shout", "glass_break"}


def test_minimal_scenario_defaults():
    s = parse_scenario(GOOD, "t.yaml")
    assert s.seed == 3 and s.lighting == "day" and s.start.x == 0 and s.route_speed == 0.6


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    return info.value


def test_bad_value_names_line_and_field():
    e = error(GOOD + "people:\n  - {path: [[0, 0], [1, 1]], speed: 9.0}\n")
    assert (e.path, e.line, e.field) == ("bad.yaml", 6, "people[0].speed")
    assert str(e).startswith("bad.yaml:6: people[0].speed: must be within")


def test_unknown_object_kind():
    e = error(GOOD + "objects:\n  - {kind: tank, pos: [1, 2]}\n")
    assert (e.line, e.field) == (6, "objects[0].kind") and "'tank'" in e.message


def test_unknown_field_suggests():
    e = error(GOOD + "lightning: night\n")
    assert (e.line, e.field) == (5, "lightning") and "did you mean 'lighting'" in e.message


def test_not_a_number():
    e = error(GOOD.replace("latitude: 36.6", "latitude: north"))
    assert (e.line, e.field) == (3, "geo_origin.latitude") and "'north'" in e.message


def test_yaml_syntax_error_names_line():
    e = error(GOOD + "objects: [\n  {kind: box\n")
    assert e.line is not None and e.line >= 5 and "YAML error" in str(e)


def test_missing_required_field():
    e = error(GOOD.replace("seed: 3\n", ""))
    assert e.field == "seed" and e.message == "missing"


def test_missing_file_lists_bundled(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert "plaza_day" in str(info.value)


def test_fault_value_range_depends_on_the_kind():
    ok = parse_scenario(GOOD + "faults:\n  - {kind: mqtt_bandwidth, at: 1, value: 20000}\n")
    assert ok.faults[0].value == 20000
    e = error(GOOD + "faults:\n  - {kind: low_battery, at: 1, value: 20000}\n")
    assert (e.line, e.field) == (6, "faults[0].value") and "charge" in e.message
