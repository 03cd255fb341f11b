"""Accepted command verbs -> ROS service calls or action goals (pure: names, types, fields).

The node looks the service type up by `ServiceCall.srv` (the action type by `ActionGoal.action`)
and fills the request from `fields`; an action goal's result code is `ok` once the goal is
accepted (an announcement is queued; it plays later), `refused` if it is rejected;
`listen` / `talk` open a window on the uplink itself (AudioWindow, answered `ok` at once);
this table is the one place that says what a station command may do on the dog. Arguments are
checked here (type, range) so a signed but nonsensical command is refused with a code, never
passed to a driver. Result codes (cmd/result `code`): ok, refused (the service said no, its
reason in `message`), bad_args, unknown_verb, unavailable (no service server), timeout, failed.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from robot_dog.mqtt.errors import MqttLinkError
from robot_dog.mqtt.talk_seal import WindowKey

#: How long the dog waits for a service answer before reporting `timeout`, s.
SERVICE_DEADLINE_S = 5.0


class CommandFailed(MqttLinkError):
    """A verified command that cannot be executed; `code` goes into cmd/result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServiceCall:
    service: str              # relative name, resolved in the dog's namespace
    srv: str                  # robot_dog_interfaces.srv class name
    fields: dict[str, Any]


@dataclass(frozen=True)
class ActionGoal:
    name: str                 # relative action name
    action: str               # robot_dog_interfaces.action class name
    fields: dict[str, Any]


@dataclass(frozen=True)
class AudioWindow:
    """`listen` / `talk`: the uplink itself streams mic audio out / plays station voice for
    `seconds` from now (a later command refreshes or, with 0, closes the window)."""
    direction: str            # "listen" | "talk"
    seconds: float
    key: WindowKey | None = None  # talk: the window's id and MAC key (robot_dog/mqtt/talk_seal.py)


#: Longest listen/talk window one command opens, s; the station refreshes it while in use.
MAX_AUDIO_WINDOW_S = 60.0


def _num(args: Mapping[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise CommandFailed("bad_args", f"{name} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _choice(args: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = args.get(name, default)
    if value not in choices:
        raise CommandFailed("bad_args", f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _police_light(a: Mapping[str, Any]) -> ServiceCall:
    return ServiceCall("police_light/set", "SetPoliceLight", {
        "pattern": _choice(a, "pattern", ("off", "steady", "flash", "alternate", "quad_flash")),
        "rate_hz": _num(a, "rate_hz", 0.0, 0.0, 10.0),
        "duration_s": _num(a, "duration_s", 0.0, 0.0, 3600.0)})


def _searchlight(a: Mapping[str, Any]) -> ServiceCall:
    strobe = a.get("strobe", False)
    if not isinstance(strobe, bool):
        raise CommandFailed("bad_args", f"strobe must be true or false, got {strobe!r}")
    return ServiceCall("searchlight/set", "SetSearchlight", {
        "level": _num(a, "level", 0.0, 0.0, 1.0), "strobe": strobe,
        "duration_s": _num(a, "duration_s", 0.0, 0.0, 3600.0)})


def _siren(a: Mapping[str, Any]) -> ServiceCall:
    return ServiceCall("megaphone/siren", "Siren", {
        "tone": _choice(a, "tone", ("off", "wail", "yelp", "hilo")),
        "max_duration_s": _num(a, "max_duration_s", 30.0, 0.0, 600.0)})


def _estop(a: Mapping[str, Any]) -> ServiceCall:
    reason = a.get("reason", "station")
    if not isinstance(reason, str) or len(reason) > 128:
        raise CommandFailed("bad_args", "reason must be a string of at most 128 characters")
    return ServiceCall("estop/engage", "EstopEngage", {"endpoint": "station", "reason": reason})


def _estop_release(a: Mapping[str, Any]) -> ServiceCall:
    """Releases only the station's own hold (the safety node refuses others' holds)."""
    if a:
        raise CommandFailed("bad_args", f"estop_release takes no arguments, got {sorted(a)}")
    return ServiceCall("estop/release", "EstopRelease", {"endpoint": "station"})



def _announce(a: Mapping[str, Any]) -> ActionGoal:
    """Text (TTS, language en or cmn) or a clip name; the station may not use the safety
    channel (priority >= 200 is the officer's on the dog)."""
    text, clip = a.get("text", ""), a.get("clip", "")
    if not isinstance(text, str) or not isinstance(clip, str):
        raise CommandFailed("bad_args", "text and clip must be strings")
    if bool(text.strip()) == bool(clip):
        raise CommandFailed("bad_args", "give either text or clip")
    if len(text) > 1000:
        raise CommandFailed("bad_args", f"text of {len(text)} characters above the 1000 limit")
    if clip and (len(clip) > 64 or not clip.replace("_", "").replace("-", "").isalnum()):
        raise CommandFailed("bad_args", f"clip must be a plain name, got {clip!r}")
    language = _choice(a, "language", ("en", "cmn"), "en") if text else ""
    return ActionGoal("megaphone/announce", "Announce", {
        "text": text, "clip": clip, "language": language,
        "priority": int(_num(a, "priority", 0, 0, 199)),
        "volume": _num(a, "volume", 0.0, 0.0, 1.0), "repeat": int(_num(a, "repeat", 0, 0, 5))})


def _audio_window(direction: str) -> Callable[[Mapping[str, Any]], AudioWindow]:
    """`talk` that opens a window also names it and carries its voice key (`window`, `key`):
    only packets sealed with that key, for that window, are played."""
    allowed = {"seconds", "window", "key"} if direction == "talk" else {"seconds"}

    def build(a: Mapping[str, Any]) -> AudioWindow:
        if set(a) - allowed:
            raise CommandFailed("bad_args", f"{direction} takes only {', '.join(sorted(allowed))}, "
                                f"got {sorted(a)}")
        if "seconds" not in a:
            raise CommandFailed("bad_args", f"{direction} needs seconds (0 closes the window)")
        seconds = _num(a, "seconds", 0.0, 0.0, MAX_AUDIO_WINDOW_S)
        if direction != "talk" or seconds == 0:
            return AudioWindow(direction, seconds)
        try:
            return AudioWindow(direction, seconds, WindowKey.from_args(a))
        except ValueError as exc:
            raise CommandFailed("bad_args", f"talk: {exc}") from None
    return build


VERBS: dict[str, Callable[[Mapping[str, Any]], ServiceCall | ActionGoal | AudioWindow]] = {
    "police_light": _police_light,
    "searchlight": _searchlight,
    "siren": _siren,
    "estop": _estop,
    "estop_release": _estop_release,
    "announce": _announce,
    "listen": _audio_window("listen"),
    "talk": _audio_window("talk"),
}


def plan(verb: str, args: Mapping[str, Any]) -> ServiceCall | ActionGoal | AudioWindow:
    """The service call (or action goal) for a command, or CommandFailed(unknown_verb / bad_args)."""
    build = VERBS.get(verb)
    if build is None:
        raise CommandFailed("unknown_verb", f"no such command {verb!r}; known: {', '.join(VERBS)}")
    return build(args)


def outcome(accepted: bool, reason: str) -> tuple[str, str]:
    """(code, message) for a service response with `accepted` and a reason/message text."""
    return ("ok", reason) if accepted else ("refused", reason or "refused by the service")
