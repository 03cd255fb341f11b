"""The station's alarm policy: how much each kind of event needs a person now (its severity).

Why the station owns severity and not the dog: the dog reports what happened (the event's type
and the facts that go with it: the sound's class, the battery's level, the e-stop's state);
whether that is worth a sticky alarm with a sound is the station staff's policy. Kept here it
is one table for every dog (older dog software included), changed without touching a dog, and
it holds the alarms the station raises itself (a dog gone offline, which no dog can report).
Ingest applies it to every event it stores (`classify`); the dog's uplink fills the wire's
required `severity` field from the same table (`severity_of`), so the dog's log says what the
station will show. Pure: no I/O, no imports beyond the standard library; beside verbs.py, not
in the station package, as the dog imports it too.

`critical` alarms are sticky with a sound on the console until someone acknowledges them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEVERITIES = ("info", "warning", "critical")
#: `origin` of the events the station raises itself (a dog's events have none).
ORIGIN = "station"

#: Battery levels (fraction 0..1) of the low-battery alarm: the dog sends an event when it falls
#: below each (uplink/events.LowBattery); below the lower one the alarm is critical.
BATTERY_WARNING = 0.20
BATTERY_CRITICAL = 0.15

#: Event kind -> severity: the one table. A kind is the event's type, refined by the fact that
#: decides its severity (`kind_of`): `estop.engaged`, `sound.shout`, `goal.blocked`, ...
SEVERITY: dict[str, str] = {
    "estop.engaged": "critical", "estop.released": "info",
    "sound.glass_break": "critical", "sound.shout": "critical", "sound.impulse": "warning",
    "sound": "info",                                   # any other class the microphone reports
    "low_battery": "warning", "low_battery.critical": "critical",
    # raised by the station (station/link_watch.py): the dog's link went silent or offline
    "offline": "critical", "online": "info",
    # raised by the station (station/ingest_limits.py): it drops part of a dog's event flood;
    # critical when critical events themselves are dropped
    "shed": "warning", "shed.critical": "critical",
    # how a goal ended (an e-stop that ended it has its own critical event)
    "goal.arrived": "info", "goal.cancelled": "info", "goal.preempted": "info",
    "goal.estop": "warning", "goal.blocked": "critical", "goal.timed_out": "warning",
    "goal.refused": "warning",
    # the officer's phone (forwarded by the dog): its e-stop, and an action the dog refused
    "handheld": "info", "handheld.estop": "warning", "handheld.refused": "warning",
    "officer_task": "info",
}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def kind_of(type_: str, data: Mapping[str, Any]) -> str | None:
    """The table's key for an event of `type_` with `data`; None when the fact that decides it
    is missing (then the dog's own severity stands: `severity_of`)."""
    if type_ == "estop":
        engaged = data.get("engaged")
        return None if not isinstance(engaged, bool) else "estop.engaged" if engaged else "estop.released"
    if type_ == "sound":
        if not isinstance(data.get("class"), str):
            return None
        kind = f"sound.{data['class']}"
        return kind if kind in SEVERITY else "sound"
    if type_ == "low_battery":
        level = _number(data.get("percentage"))
        if level is None:
            return None
        return "low_battery.critical" if level < BATTERY_CRITICAL else "low_battery"
    if type_ == "goal":
        kind = f"goal.{data.get('state')}"
        return kind if kind in SEVERITY else None
    if type_ == "shed":
        return "shed.critical" if data.get("critical") is True else "shed"
    if type_ == "handheld":
        if data.get("kind") == "estop":
            return "handheld.estop"
        return "handheld" if data.get("code", "ok") == "ok" else "handheld.refused"
    return type_ if type_ in SEVERITY else None


def severity_of(type_: str, data: Mapping[str, Any] | None = None,
                reported: str = "warning") -> str:
    """The severity of an event of `type_` with `data`. A kind the table does not know (a newer
    dog's event type) keeps the severity the dog `reported`: warning if that is not one."""
    kind = kind_of(type_, data or {})
    if kind is not None:
        return SEVERITY[kind]
    return reported if reported in SEVERITIES else "warning"


def classify(doc: dict[str, Any]) -> dict[str, Any]:
    """An event document (schema `event`) with the policy's severity. When the dog said
    otherwise (an older dog, another policy), its word is kept as `reported_severity`."""
    data = doc.get("data")
    severity = severity_of(str(doc.get("type", "")), data if isinstance(data, dict) else {},
                           str(doc.get("severity", "")))
    if severity == doc.get("severity"):
        return doc
    return {**doc, "severity": severity, "reported_severity": doc.get("severity")}


def battery_levels() -> dict[str, float]:
    """The low-battery levels as the console colours the battery with them."""
    return {"warning": BATTERY_WARNING, "critical": BATTERY_CRITICAL}
