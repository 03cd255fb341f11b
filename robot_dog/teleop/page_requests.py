"""The handheld page's requests -> the verb registry (pure): which verb each page request is,
with which arguments. The registry names the service and checks the arguments; the page's
toggles are the registry's presets.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot_dog import verbs

#: Frame types of teleop/protocol.py that are the link itself (pairing, heartbeats, the stick,
#: push-to-talk), not a verb sent to a service.
LINK_KINDS = ("pair", "hello", "beat", "drive", "stop", "leave", "talk", "audio", "task", "unpair")

#: The autonomous mux input (robot_dog/config/twist_mux.yaml, restart: resume) the page's Resume
#: button lets drive again.
PATROL_INPUT = "patrol"

#: Page request (teleop/protocol.py) -> (verb, arguments) in the verb registry, which names the
#: service and checks the arguments; toggles are the registry's presets, so "light on" is the
#: same pattern from the phone as from the station.
PAGE_REQUESTS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "estop": lambda a: ("estop", {"reason": "handheld e-stop button"}),   # + the officer, below
    "release": lambda a: ("estop_release", {}),
    "mode": lambda a: ("mode", {"mode": a["mode"]}),
    "speed": lambda a: ("speed_mode", {"crowd": a["crowd"]}),
    "light": lambda a: _preset("light_on" if a["on"] else "light_off"),
    "siren": lambda a: _preset("siren_on" if a["on"] else "siren_off"),
    "searchlight": lambda a: _preset("searchlight_on" if a["on"] else "searchlight_off"),
    # the officer at the dog: a local source, which may stop a locked recording
    "record": lambda a: ("record", {"start": a["on"], "reason": "handheld Record button"}),
    # the restart interlock's deliberate action (docs/safety.md): the officer at the dog lets the
    # paused patrol drive again; the page resumes only the patrol, so the input is not its choice
    "resume": lambda a: ("resume", {"input": PATROL_INPUT}),
    # the patrol node's current goal or route ends where the dog stands
    "cancel": lambda a: ("cancel", {}),
}
#: Requests whose `reason` also names the officer: it reaches the safety node's log and the
#: e-stop's reason (the station's e-stop event), and the recorder's audit log.
NAMED_REASONS = ("estop", "record")


def _preset(name: str) -> tuple[str, dict[str, Any]]:
    preset = verbs.PRESETS[name]
    return preset.verb, dict(preset.args)


def service_request(kind: str, args: dict[str, Any], officer: str = "") -> tuple[str, dict[str, Any]]:
    """(service name, request fields) of a page request by `officer`, or Refused (bad_args, ...)."""
    verb, verb_args = PAGE_REQUESTS[kind](args)
    if kind in NAMED_REASONS and officer:
        verb_args["reason"] = f"{verb_args['reason']} (officer {officer})"
    fields = verbs.request(verb, verb_args, verbs.HANDHELD)
    for name, key in verbs.VERBS[verb].envelope_fields.items():
        if key == "issuer":   # the station's signed issuer; on the phone, its officer
            fields[name] = officer
    return verbs.service(verb).name, fields
