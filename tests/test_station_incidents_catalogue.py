"""The console's incidents speak both languages of its one catalogue: every message its modules
ask for by name, and every kind, status, disposition and goal state it builds a name from, is
in English and in Chinese (robot_dog/station/web/i18n.js). Read as text: no browser."""
from __future__ import annotations

import re
from pathlib import Path

from robot_dog.station.incidents import DISPOSITIONS, ENTRY_KINDS, UNIT_STATUSES
from robot_dog.patrol.goal import Outcome

WEB = Path(__file__).resolve().parents[1] / "robot_dog/station/web"
GOAL_STATES = ("idle", "active", "waiting", "refused", *(o.value for o in Outcome))


def catalogue() -> dict[str, set[str]]:
    text = (WEB / "i18n.js").read_text()
    en, zh = text.split("\n  zh: {", 1)
    return {lang: set(re.findall(r"\b(\w+): \"", part)) for lang, part in (("en", en), ("zh", zh))}


def test_every_incident_message_is_in_english_and_chinese():
    keys = catalogue()
    asked = {key for module in ("incidents.js", "dispatch_dialog.js", "goal_layer.js") for key in
             re.findall(r"""t\(["'`](inc_\w+|incidents)["'`]""", (WEB / module).read_text())}
    built = ({f"inc_entry_{k}" for k in ENTRY_KINDS} | {f"inc_status_{s}" for s in UNIT_STATUSES}
             | {f"inc_disp_{d}" for d in DISPOSITIONS} | {f"inc_goal_{s}" for s in GOAL_STATES}
             | {f"inc_state_{s}" for s in ("open", "closed", "any")}
             | {f"inc_goal_kind_{g}" for g in ("point", "patrol", "home")})
    assert asked, "the module asks for its messages by name"
    for lang in ("en", "zh"):
        assert not (asked | built) - keys[lang], lang
    assert {k for k in keys["en"] if k.startswith("inc_")} == {k for k in keys["zh"] if k.startswith("inc_")}
