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
    answer_ok: bool = True    # False: only a failure is answered on cmd/result (check-ins)


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
    """Releases only the station's own hold (or a restarted node's boot hold), and only one that
    began before the release was issued: the node sets `issued_at` to the command's signed time.
    `hold_id` (optional) names the hold (from telemetry's safety section or the engage's result)."""
    if set(a) - {"hold_id"}:
        raise CommandFailed("bad_args", f"estop_release takes only hold_id, got {sorted(a)}")
    hold_id = a.get("hold_id", "")
    if not isinstance(hold_id, str) or len(hold_id) > 32 or not hold_id.isalnum() and hold_id:
        raise CommandFailed("bad_args", "hold_id must be a short alphanumeric string")
    return ServiceCall("estop/release", "EstopRelease",
                       {"endpoint": "station", "hold_id": hold_id, "issued_at": 0.0})


def _resume(a: Mapping[str, Any]) -> ServiceCall:
    """The station's deliberate action that lets a paused autonomous input (patrol) drive."""
    if set(a) != {"input"} or not isinstance(a["input"], str) or not a["input"].isidentifier():
        raise CommandFailed("bad_args", "resume takes input, the name of a mux input (e.g. patrol)")
    return ServiceCall("motion/resume", "MotionResume", {"input": a["input"], "endpoint": "station"})


def _mode(a: Mapping[str, Any]) -> ServiceCall:
    """Stand, sit or damp, checked by the safety node (an e-stop sits the dog after its settle
    time; a release never stands it up: this is the station's deliberate stand)."""
    if set(a) != {"mode"}:
        raise CommandFailed("bad_args", "mode takes only mode (stand, sit or damp)")
    return ServiceCall("mode/set", "SetBaseMode", {"mode": _choice(a, "mode", ("stand", "sit", "damp"))})


#: How long a station check-in keeps the station live on the dog, s (the uplink's parameter
#: station_deadline_s overrides it).
STATION_DEADLINE_S = 2.0


def _checkin(a: Mapping[str, Any]) -> ServiceCall:
    """A signed heartbeat of the station while it commands the dog; {"leave": true} leaves
    cleanly. Only a refusal is answered (a check-in every 0.5 s needs no result)."""
    if set(a) - {"leave"} or not isinstance(a.get("leave", False), bool):
        raise CommandFailed("bad_args", "checkin takes only leave (true or false)")
    return ServiceCall("estop/check_in", "EstopCheckIn",
                       {"endpoint": "station",
                        "timeout_s": 0.0 if a.get("leave") else STATION_DEADLINE_S},
                       answer_ok=False)



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


def _reason(a: Mapping[str, Any]) -> str:
    reason = a.get("reason", "station")
    if not isinstance(reason, str) or len(reason) > 120:
        raise CommandFailed("bad_args", "reason must be a string of at most 120 characters")
    return reason


def _record(a: Mapping[str, Any]) -> ServiceCall:
    """Start (default) or stop the bodycam recorder from the station: source `station`, which
    the recorder counts as remote, so a locked recording cannot be stopped this way."""
    if set(a) - {"start", "reason", "lock"}:
        raise CommandFailed("bad_args", f"record takes start, reason, lock; got {sorted(a)}")
    start, lock = a.get("start", True), a.get("lock", False)
    if not isinstance(start, bool) or not isinstance(lock, bool):
        raise CommandFailed("bad_args", "start and lock must be true or false")
    return ServiceCall("bodycam/record", "Record", {"start": start, "reason": _reason(a),
                                                     "lock": lock, "source": "station"})


def _snapshot(a: Mapping[str, Any]) -> ServiceCall:
    """A still from the bodycam, hashed and chained like a segment."""
    if set(a) - {"reason"}:
        raise CommandFailed("bad_args", f"snapshot takes only reason; got {sorted(a)}")
    return ServiceCall("bodycam/snapshot", "Snapshot", {"reason": _reason(a), "source": "station"})


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
    "resume": _resume,
    "mode": _mode,
    "checkin": _checkin,
    "announce": _announce,
    "listen": _audio_window("listen"),
    "talk": _audio_window("talk"),
    "record": _record,
    "snapshot": _snapshot,
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
