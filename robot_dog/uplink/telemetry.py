"""Telemetry aggregation: the latest value of each ROS input, sampled into one JSON document.

Pure: the node feeds `update(...)` from its subscriptions (through the section builders below,
which take plain numbers, not ROS messages) and calls `snapshot(now)` on its timer. Fields that
were never received are absent rather than zero, so the station can tell "no battery data" from
"battery empty"; each field carries its age so stale data is visible. Section names with a dot
("payload.police_light") nest in the document, as docs/schemas/telemetry.json lays it out.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from robot_dog import verbs
from robot_dog.patrol import goal

SCHEMA_VERSION = 1


def _finite(**values: float | None) -> dict[str, float]:
    """Drop unknown values: ROS uses NaN for "not measured", JSON has no NaN."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def yaw_of(qx: float, qy: float, qz: float, qw: float) -> float:
    """Heading (rad) of an orientation quaternion."""
    return math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))


def pose_section(x: float, y: float, z: float, qx: float, qy: float, qz: float, qw: float,
                 frame: str = "odom") -> dict[str, Any] | None:
    """From nav_msgs/Odometry pose: position (m) and yaw (rad); None if x, y or yaw is not a
    number (a pose not known yet): the last known pose stays, its age growing."""
    out = {"frame": frame[:32] or "odom", **_finite(x=x, y=y, z=z, yaw=yaw_of(qx, qy, qz, qw))}
    return out if {"x", "y", "yaw"} <= out.keys() else None


def velocity_section(vx: float, vy: float, wz: float) -> dict[str, float] | None:
    """From nav_msgs/Odometry twist (body frame): m/s, m/s, rad/s; None unless all finite
    (JSON has no NaN: one would make the whole telemetry document unsendable)."""
    out = _finite(vx=vx, vy=vy, wz=wz)
    return out if len(out) == 3 else None


def battery_section(percentage: float, voltage_v: float, current_a: float,
                    temperature_c: float, charging: bool) -> dict[str, Any]:
    """From sensor_msgs/BatteryState (percentage 0..1, NaN = unknown)."""
    out: dict[str, Any] = _finite(voltage_v=voltage_v, current_a=current_a,
                                  temperature_c=temperature_c)
    if math.isfinite(percentage):
        out["percentage"] = min(1.0, max(0.0, float(percentage)))
    if out.get("voltage_v", 0.0) < 0:
        del out["voltage_v"]
    out["charging"] = bool(charging)
    return out


def boot_seq(now: float) -> int:
    """The seq a dog process starts counting from: its clock in ms at start (`now`, s).

    The station stores telemetry once per (dog, seq) (MQTT redelivers); a restarted dog that
    counted from 0 again would have its new samples taken for copies of old ones. Telemetry
    runs at 10 Hz at most, so a process never counts past the clock in ms: the next process
    starts above every seq the last one sent (unless the clock steps back meanwhile).
    """
    return int(now * 1000)


@dataclass
class TelemetryState:
    dog: str
    seq: int = 0
    _fields: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def update(self, name: str, value: Any, now: float) -> None:
        """Remember `value` as the latest `name` (e.g. "battery", "payload.searchlight")."""
        self._fields[name] = (now, value)

    def snapshot(self, now: float) -> dict[str, Any]:
        """The telemetry document at `now`: every known field with its age in seconds."""
        self.seq += 1
        doc: dict[str, Any] = {"v": SCHEMA_VERSION, "dog": self.dog, "seq": self.seq, "ts": now}
        for name, (stamp, value) in self._fields.items():
            head, _, leaf = name.partition(".")
            if leaf:
                doc.setdefault(head, {})[leaf] = value
            else:
                doc[name] = value
            doc.setdefault("age_s", {})[name] = round(max(0.0, now - stamp), 3)
        return doc


class RateGate:
    """Newest-wins rate limit for video: at most `max_hz` sends on average, never a backlog.

    A frame that arrives too early is not queued. The budget is a token bucket that refills at
    `max_hz` plus 5 % (a camera at exactly `max_hz` runs a little fast by the clock here, and a
    bucket refilled at exactly its rate would random-walk into its floor) and holds at most
    `burst` frames, so a camera at `max_hz` whose frames arrive with jitter (one late, the next
    early) keeps every frame. An interval-only gate dropped every frame that came a few ms
    early after a late one: the uplink sent 70 % of a 15 fps bodycam's frames. Over any window
    of T s at most `burst + 1.05 * T * max_hz` pass.
    """

    SLACK = 1.05

    def __init__(self, max_hz: float, burst: float = 2.0) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1 frame, got {burst}")
        self.burst = burst
        self.set_rate(max_hz)
        self._last: float | None = None
        self._tokens = 1.0

    def set_rate(self, max_hz: float) -> None:
        if max_hz <= 0:
            raise ValueError(f"max_hz must be > 0, got {max_hz}")
        self.max_hz = max_hz
        self.interval_s = 1.0 / max_hz

    def admit(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.max_hz * self.SLACK)
        self._last = now
        if self._tokens < 1.0 - 1e-9:   # (a sum of refills may fall short of 1 by rounding)
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True


def police_light_section(pattern: str, red_on: bool, blue_on: bool) -> dict[str, Any]:
    """From robot_dog_interfaces/PoliceLightState."""
    return {"pattern": pattern[:32], "on": pattern not in ("", "off") or red_on or blue_on}


def searchlight_section(level: float, strobe: bool, temperature_c: float,
                        derating: bool) -> dict[str, Any]:
    """From robot_dog_interfaces/SearchlightState (level after derating, 0..1)."""
    out: dict[str, Any] = {"strobe": bool(strobe), "derated": bool(derating)}
    if math.isfinite(level):
        out["level"] = min(1.0, max(0.0, float(level)))
    out.update(_finite(temperature_c=temperature_c))
    return out


def recorder_section(state: str, reason: str, *, pre_event_s: float | None = None,
                     storage: str = "", bytes_used: int | None = None,
                     bytes_free: int | None = None, locked: bool = False, recording_id: str = "",
                     backlog: dict[str, int] | None = None) -> dict[str, Any]:
    """From robot_dog_interfaces/RecorderStatus, plus the evidence upload's backlog (closed
    items and bytes the station does not hold verified yet)."""
    out: dict[str, Any] = {"recording": state in ("recording", "post_event"), "reason": reason[:64],
                           "state": state[:16], "locked": bool(locked)}
    if recording_id:
        out["recording_id"] = recording_id[:96]
    if pre_event_s is not None and math.isfinite(pre_event_s):
        out["pre_event_s"] = round(float(pre_event_s), 1)
    if storage:
        out["storage"] = storage[:8]
    if bytes_used is not None:
        out["bytes_used"] = int(bytes_used)
    if bytes_free is not None:
        out["bytes_free"] = int(bytes_free)
    if backlog is not None:
        out["upload_backlog_items"] = int(backlog["items"])
        out["upload_backlog_bytes"] = int(backlog["bytes"])
    return out


def safety_section(engaged: bool, reason: str) -> dict[str, Any]:
    """From robot_dog_interfaces/EstopState."""
    return {"estop": bool(engaged), "estop_reason": reason[:128]}


#: Most waypoints the section carries (the verb registry's, the most `patrol` may send); a longer
#: route (a ROS client's) is sent without them: the map then draws the target alone rather than a
#: route cut short. 64 pairs are about 1.3 KB of 16 KiB.
ROUTE_POINTS_MAX = verbs.ROUTE_POINTS_MAX
#: States of a goal that still runs: only these carry their waypoints (an ended goal is not drawn).
RUNNING_STATES = goal.RUNNING_STATES


def goal_section(label: str, state: str, detail: str, waypoint_index: int, distance_left_m: float,
                 eta_s: float, target_x: float, target_y: float,
                 waypoints: Sequence[float] = ()) -> dict[str, Any]:
    """From robot_dog_interfaces/GoalState: the patrol node's work. A looping route's unknown
    distance and ETA (inf) are null; an idle node names no target. While the work runs, its
    `waypoints` (flat x0, y0, x1, y1, ... m) become [[x, y], ...] to the centimetre, in order, so
    the station's map draws the route from the dog's own word; a non-finite one drops them all."""
    out: dict[str, Any] = {"label": label[:64], "state": state, "waypoint_index": int(waypoint_index)}
    if detail:
        out["detail"] = detail[:256]
    if state != "idle":
        out["distance_left_m"] = float(distance_left_m) if math.isfinite(distance_left_m) else None
        out["eta_s"] = float(eta_s) if math.isfinite(eta_s) else None
    if math.isfinite(target_x) and math.isfinite(target_y):
        out["target"] = {"x": float(target_x), "y": float(target_y)}
    flat = [float(v) for v in waypoints]
    if (state in RUNNING_STATES and flat and len(flat) % 2 == 0
            and len(flat) <= 2 * ROUTE_POINTS_MAX and all(math.isfinite(v) for v in flat)):
        out["waypoints"] = [[round(x, 2), round(y, 2)] for x, y in zip(flat[::2], flat[1::2])]
    return out
