"""The commands the console offers, served as GET /api/verbs: the page builds its command list
from this route, never from a table of its own.

STAND-IN for the verb registry: until the registry serves each verb's name, args schema,
allowed senders and refusal codes, this answers from what the dog's uplink knows today (the
verb names of robot_dog/uplink/commands.py, the one table of them) with the argument schemas
the console's buttons need. Point `verb_list` at the registry when it lands; the route and its
answer's shape stay.
"""
from __future__ import annotations

from typing import Any

from robot_dog.uplink.commands import MAX_AUDIO_WINDOW_S, VERBS

#: Verbs the station sends by itself, never a person (the check-in is its heartbeat).
NOT_FOR_PEOPLE = frozenset({"checkin"})
#: Refusal codes any verb may answer with (robot_dog/uplink: plan() and the service's answer).
REFUSALS = ["unknown_verb", "bad_args", "refused", "timeout", "not_sent"]


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _number(lo: float, hi: float) -> dict[str, Any]:
    return {"type": "number", "minimum": lo, "maximum": hi}


#: The console's argument schemas (JSON Schema) per verb; a verb not here takes {}.
ARGS: dict[str, dict[str, Any]] = {
    "police_light": {"pattern": _enum("off", "steady", "flash", "alternate", "quad_flash")},
    "searchlight": {"level": _number(0.0, 1.0), "strobe": {"type": "boolean"}},
    "siren": {"tone": _enum("off", "wail", "yelp", "hilo")},
    "estop": {"reason": {"type": "string", "maxLength": 128}},
    "estop_release": {"hold_id": {"type": "string", "maxLength": 32}},
    "resume": {"input": {"type": "string"}},
    "mode": {"mode": _enum("stand", "sit", "damp")},
    "announce": {"text": {"type": "string", "maxLength": 1000}, "language": _enum("en", "cmn"),
                 "clip": {"type": "string", "maxLength": 64}},
    "listen": {"seconds": _number(0.0, MAX_AUDIO_WINDOW_S)},
    "talk": {"seconds": _number(0.0, MAX_AUDIO_WINDOW_S)},
}
#: Verbs the console asks to confirm before sending.
CONFIRM = frozenset({"estop_release", "resume"})


def verb_list() -> list[dict[str, Any]]:
    return [{"name": name,
             "args": {"type": "object", "properties": ARGS.get(name, {}),
                      "additionalProperties": False},
             "senders": ["operator"], "refusals": REFUSALS, "confirm": name in CONFIRM}
            for name in VERBS if name not in NOT_FOR_PEOPLE]
