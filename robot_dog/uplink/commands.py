"""A station command -> what the uplink does with it (pure): a ROS service call, an action goal
or a listen/talk window.

What each verb takes and what executes it is the verb registry's (`robot_dog/verbs.py`); this
module only adds what the uplink itself knows of a station command: the release's signed time
(`issued_at`, filled by the lifecycle), the station's check-in deadline, the talk window's key,
and whether a result is answered at all (a check-in is answered only when refused). A signed
but nonsensical command is refused here with a code (`bad_args`, `unknown_verb`,
`not_allowed`: `robot_dog.errors.Refused`), never passed to a driver.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robot_dog import verbs
from robot_dog.errors import Refused
from robot_dog.mqtt.talk_seal import WindowKey
from robot_dog.verbs import MAX_AUDIO_WINDOW_S, STATION_DEADLINE_S

__all__ = ["MAX_AUDIO_WINDOW_S", "STATION_DEADLINE_S", "SERVICE_DEADLINE_S", "ServiceCall",
           "ActionGoal", "AudioWindow", "plan"]

#: How long the dog waits for a service answer before reporting `timeout`, s.
SERVICE_DEADLINE_S = 5.0


@dataclass(frozen=True)
class ServiceCall:
    service: str              # relative name, resolved in the dog's namespace
    srv: str                  # "package/Type" of the service
    fields: dict[str, Any]
    answer_ok: bool = True    # False: only a failure is answered on cmd/result (check-ins)


@dataclass(frozen=True)
class ActionGoal:
    name: str                 # relative action name
    action: str               # "package/Type" of the action
    fields: dict[str, Any]


@dataclass(frozen=True)
class AudioWindow:
    """`listen` / `talk`: the uplink itself streams mic audio out / plays station voice for
    `seconds` from now (a later command refreshes or, with 0, closes the window)."""
    direction: str            # "listen" | "talk"
    seconds: float
    key: WindowKey | None = None  # talk: the window's id and MAC key (robot_dog/mqtt/talk_seal.py)


def plan(verb: str, args: Mapping[str, Any]) -> ServiceCall | ActionGoal | AudioWindow:
    """What to do for a station command, or Refused (unknown_verb, not_allowed, bad_args)."""
    fields = verbs.request(verb, args, verbs.STATION)
    executor = verbs.VERBS[verb].executor
    if isinstance(executor, verbs.Window):
        return _window(executor.direction, args, fields)
    if isinstance(executor, verbs.Action):
        if verb == "announce":
            _check_announce(fields)
        if verb == "patrol":
            _route_or_waypoints(fields)
        return ActionGoal(executor.name, executor.action, fields)
    if not isinstance(executor, verbs.Service):
        raise Refused("not_allowed", f"{verb} is not a station command")
    if verb == "estop" and not fields["reason"]:
        fields["reason"] = "station"
    if verb == "estop_release":
        fields["issued_at"] = 0.0     # the lifecycle sets the command's signed time
    if verb == "checkin":
        fields = {"endpoint": verbs.STATION,
                  "timeout_s": 0.0 if fields.pop("leave") else STATION_DEADLINE_S}
        return ServiceCall(executor.name, executor.srv, fields, answer_ok=False)
    return ServiceCall(executor.name, executor.srv, fields)


def _route_or_waypoints(fields: dict[str, Any]) -> None:
    """`patrol`'s route `waypoints` (checked by the registry's rule) is the action's empty
    route: walk the waypoints given."""
    if fields["route"] == verbs.EXPLICIT_ROUTE:
        fields["route"] = ""


def _check_announce(fields: dict[str, Any]) -> None:
    """A clip has no language (text or clip, one of them: the registry's rule; the station may
    not use the safety channel, priority >= 200 is the officer's on the dog: the registry's range)."""
    if not fields["text"]:
        fields["language"] = ""


def _window(direction: str, args: Mapping[str, Any], fields: dict[str, Any]) -> AudioWindow:
    """`talk` that opens a window also names it and carries its voice key (`window`, `key`):
    only packets sealed with that key, for that window, are played."""
    seconds = float(fields["seconds"])
    if direction != "talk" or seconds == 0:
        return AudioWindow(direction, seconds)
    try:
        return AudioWindow(direction, seconds, WindowKey.from_args(args))
    except ValueError as exc:
        raise Refused("bad_args", f"talk: {exc}") from None
