"""The console shows the dog's own words from its one catalogue, in English and in Chinese
(robot_dog/station/web/i18n.js): every verb the station may send, every argument and choice of
the verbs the dog view lists as controls, every input that can drive the dog, every payload
device, field and choice of the telemetry, every alarm type (the dog's, the station's own) and
the fact that decides its severity, every refusal code a command can end with, and every
message the console's modules ask for by name. Read as text: no browser
(tests/test_station_console_browser.py sees them on the page)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from robot_dog import alarm_policy, verbs
from robot_dog.mqtt.topics import Kind
from robot_dog.payload.police_light import PATTERNS
from robot_dog.station.ingest_limits import CRITICAL_EVENTS

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
    for module in ("console.js", "labels.js", "charts.js", "dispatch_dialog.js"):
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


#: Where in docs/errors.md's "where" column a refusal meets a command on its way: the station's
#: checks (HTTP, the console's live socket), the signed envelope, the dog's uplink and the
#: executors behind the verbs. A code only the handheld, the incidents or the evidence intake
#: raise is not a command's answer.
COMMAND_PATH = ("verbs", "station HTTP", "console live socket", "uplink", "command envelope",
                "safety", "payload", "siren", "bodycam recorder", "patrol goals", "patrol (",
                "base", "verb `task`", "station talk", "command log")
#: The station's HTTP refusals without a code of their own carry the status phrase.
STATUS_CODES = {"bad_request", "unauthorized", "forbidden", "not_found", "conflict",
                "too_many_requests", "service_unavailable"}


def command_codes() -> set[str]:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", (ROOT / "docs/errors.md").read_text(), re.M)
    return {code for code, where in rows if any(place in where for place in COMMAND_PATH)}


def test_every_refusal_code_a_command_can_get_is_in_both_languages():
    keys = catalogue()
    codes = command_codes() | STATUS_CODES | {"ok"}
    assert {"dog_offline", "estop_engaged", "bad_args", "expired", "mcu_timeout", "no_goal",
            "talk_busy", "csrf_refused"} <= codes, "docs/errors.md is read"
    assert "wrong_code" not in codes, "a handheld pairing code is no command's answer"
    want = {f"code_{code}" for code in codes}
    for lang in ("en", "zh"):
        assert not want - keys[lang], (lang, sorted(want - keys[lang]))


#: The station's own refusals the console's pages show beside commands: the incident desk and
#: the dispatch dialog, the accounts page, issuing a pairing code (labels.js refusalWords).
STATION_PAGES = ("station incidents", "station accounts", "station pairing")


def test_every_refusal_the_consoles_pages_show_is_in_both_languages():
    keys = catalogue()
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", (ROOT / "docs/errors.md").read_text(), re.M)
    codes = {code for code, where in rows if any(place in where for place in STATION_PAGES)}
    assert {"alarm_open", "incident_closed", "last_admin", "unknown_officer"} <= codes
    want = {f"code_{code}" for code in codes}
    for lang in ("en", "zh"):
        assert not want - keys[lang], (lang, sorted(want - keys[lang]))


def sound_classes() -> set[str]:
    """The classes the microphone reports (audio/sound_events.py) and the policy names."""
    text = (ROOT / "robot_dog/audio/sound_events.py").read_text()
    # the class is SoundEvent's first argument: `SoundEvent("shout", ...)`,
    # `SoundEvent("glass_break" if glass else "bang", ...)`
    firsts = [line.split("SoundEvent(", 1)[1].split(",", 1)[0]
              for line in text.splitlines() if "SoundEvent(" in line]
    return {c for first in firsts for c in re.findall(r'"(\w+)"', first)} | {
        kind.split(".", 1)[1] for kind in alarm_policy.SEVERITY if kind.startswith("sound.")}


#: How the alarm queue words the fact that decides an event's severity (labels.js factOf): one
#: catalogue key per refined kind of the policy (`sound.glass_break` -> sound_glass_break). A
#: type refined by a fact not listed here (a new kind in the policy) fails the test below until
#: the page words it.
FACT_KEYS = {"sound": "sound_{}", "estop": "estop_{}", "goal": "inc_goal_{}",
             "handheld": "handheld_{}", "low_battery": None,
             "shed": None}   # the station's own flood alarm: worded per lane (alarm_shed_*, below)


def test_every_alarm_type_and_its_deciding_fact_is_in_both_languages():
    keys = catalogue()
    schema = json.loads((ROOT / "docs/schemas/event.json").read_text())
    types = set(schema["properties"]["type"]["enum"])
    types |= {kind.split(".", 1)[0] for kind in alarm_policy.SEVERITY}   # offline, online
    want = {f"event_{t}" for t in types} | {"event_shed", "low_battery_at"}
    labels = (WEB / "labels.js").read_text()
    for kind in alarm_policy.SEVERITY:
        if "." not in kind:
            continue
        type_, fact = kind.split(".", 1)
        assert type_ in FACT_KEYS, f"the alarm queue has no words for {kind}'s fact"
        assert f'type === "{type_}"' in labels, f"labels.js factOf words {type_}'s fact"
        if FACT_KEYS[type_]:
            want.add(FACT_KEYS[type_].format(fact))
    want |= {f"sound_{c}" for c in sound_classes()}
    # the station's own alarms: a dog offline or back (link_watch), an event flood it sheds
    want |= {f"alarm_shed_{lane}" for lane in (Kind.EVENTS.value, CRITICAL_EVENTS)}
    assert {"event_offline", "event_online", "sound_glass_break", "sound_bang", "estop_engaged",
            "inc_goal_blocked", "alarm_shed_events_critical"} <= want, "the sources are read"
    for lang in ("en", "zh"):
        assert not want - keys[lang], (lang, sorted(want - keys[lang]))
