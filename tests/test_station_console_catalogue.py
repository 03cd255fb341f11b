"""The console shows the dog's own words from its one catalogue, in English and in Chinese
(robot_dog/station/web/i18n.js): every verb the station may send, every argument and choice of
the verbs the dog view lists as controls, every input that can drive the dog, every payload
device, field and choice of the telemetry, and every message the console's modules ask for by
name. Read as text: no browser (tests/test_station_console_browser.py sees them on the page)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from robot_dog import verbs
from robot_dog.payload.police_light import PATTERNS

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "robot_dog/station/web"


def catalogue() -> dict[str, set[str]]:
    text = (WEB / "i18n.js").read_text()
    messages = text.split("const MESSAGES = {", 1)[1].split("\nexport ", 1)[0]
    en, zh = messages.split("\n  zh: {", 1)
    return {lang: set(re.findall(r"\b(\w+): \"", part)) for lang, part in (("en", en), ("zh", zh))}


def own_place() -> set[str]:
    """Verbs the dog view does not list as controls (console.js OWN_PLACE)."""
    line = re.search(r"const OWN_PLACE = \[([^\]]*)\]", (WEB / "console.js").read_text())
    assert line, "console.js names the verbs with a place of their own"
    return set(re.findall(r'"(\w+)"', line.group(1)))


def needed() -> set[str]:
    station = verbs.catalog(verbs.STATION)["verbs"]
    keys = {f"verb_{v['name']}" for v in station}
    for v in station:
        if v["name"] in own_place():
            continue
        for arg, schema in v["args"].get("properties", {}).items():
            keys.add(f"arg_{arg}")
            keys |= {f"val_{arg}_{choice}" for choice in schema.get("enum", ())}
    mux = yaml.safe_load((ROOT / "robot_dog/config/twist_mux.yaml").read_text())
    keys |= {f"input_{name}" for name in mux["twist_mux"]["ros__parameters"]["topics"]}
    schema = json.loads((ROOT / "docs/schemas/telemetry.json").read_text())
    for device, doc in schema["properties"]["payload"]["properties"].items():
        keys.add(f"dev_{device}")
        for field, spec in doc["properties"].items():
            keys.add(f"field_{field}")
            keys |= {f"val_{field}_{choice}" for choice in spec.get("enum", ())}
    keys |= {f"val_pattern_{name}" for name in PATTERNS}
    return keys


def asked() -> set[str]:
    """Messages the console's own modules ask for by a literal name."""
    keys: set[str] = set()
    for module in ("console.js", "labels.js", "charts.js"):
        text = (WEB / module).read_text()
        keys |= set(re.findall(r"""\bt\(["'](\w+)["']""", text))
        keys |= set(re.findall(r"""\b(?:title|label): "(chart_\w+)\"""", text))
    return keys


def test_the_dogs_words_are_in_english_and_chinese():
    keys = catalogue()
    want = needed()
    assert {"verb_revoke_handheld", "arg_rate_hz", "val_pattern_flash", "input_patrol",
            "dev_bodycam", "val_state_post_event"} <= want, "the sources are read"
    for lang in ("en", "zh"):
        assert not want - keys[lang], (lang, sorted(want - keys[lang]))


def test_every_message_the_console_asks_for_is_in_both_languages():
    keys = catalogue()
    wanted = asked()
    assert {"driver", "cmd_state", "chart_temperature", "device_line"} <= wanted
    for lang in ("en", "zh"):
        assert not wanted - keys[lang], (lang, sorted(wanted - keys[lang]))
    assert keys["en"] == keys["zh"], sorted(keys["en"] ^ keys["zh"])
