"""Every command verb of the dog, as data: the one table of what may be asked of it (pure).

Each `Verb` says its name, its arguments (type, range, choices, default), who may send it
(`SENDERS`), what executes it on the dog (a ROS service, an action, a window on the uplink, a
velocity topic) and the refusal codes its executor answers with. Everything else is derived:

- the uplink checks a station command with `request(verb, args, STATION)` and calls the
  service it names (robot_dog/uplink/commands.py, uplink/node.py build their clients from here);
- the handheld server turns a page request into `request(verb, args, HANDHELD)` (teleop/node.py);
- the station checks a command before it signs it, and serves `catalog()` at `GET /api/verbs`,
  from which its page builds its command buttons (`PRESETS`: "light on" is one preset, the same
  pattern from the phone and from the station);
- docs/verbs.md is generated from `markdown()` and kept identical by a test.

Adding a verb: one `Verb` (and, for a button on the station page, a `Preset`) here, its
executor on the dog, and its interface file in ros_ws/; nothing else (docs/architecture.md).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from robot_dog.audio.siren import TONES
from robot_dog.errors import Refused
from robot_dog.mqtt.talk_seal import KEY_TEXT, WINDOW_ID
from robot_dog.person_names import MAX_NAME_CHARS
from robot_dog.payload.police_light import PATTERNS

#: Most points of a route: what the station may send in `patrol` and what the telemetry's `goal`
#: section carries back (robot_dog/uplink/telemetry.py), so the map draws every route it can send.
ROUTE_POINTS_MAX = 64
#: `patrol`'s route that walks the command's own waypoints (the action's empty route).
EXPLICIT_ROUTE = "waypoints"

STATION, HANDHELD, GAMEPAD, KEYBOARD = "station", "handheld", "gamepad", "keyboard"
#: Who may send a verb: the station (signed MQTT commands), the officer's phone (the handheld
#: page), a gamepad and the keyboard on the dog.
SENDERS = (STATION, HANDHELD, GAMEPAD, KEYBOARD)

#: Refusal codes any verb can get before or around its executor (the uplink's lifecycle and the
#: checks here). A verb's own `refusals` add what its executor answers.
COMMON_REFUSALS = ("bad_args", "unknown_verb", "not_allowed", "unavailable", "busy", "timeout",
                   "failed", "refused")


# --- argument types ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    """A finite number in [lo, hi]; `default` None: required."""
    lo: float
    hi: float
    default: float | None = None
    integer: bool = False
    unit: str = ""

    def check(self, name: str, value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not self.lo <= value <= self.hi or \
                (self.integer and value != int(value)):
            kind = "an integer" if self.integer else "a number"
            raise Refused("bad_args", f"{name} must be {kind} in [{self.lo:g}, {self.hi:g}], "
                          f"got {_short(value)}")
        return int(value) if self.integer else float(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "integer" if self.integer else "number", "minimum": self.lo,
                "maximum": self.hi, **_default(self.default), **({"unit": self.unit} if self.unit else {})}


@dataclass(frozen=True)
class Choice:
    """One of `choices` (exact names)."""
    choices: tuple[str, ...]
    default: str | None = None

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise Refused("bad_args", f"{name} must be one of {', '.join(self.choices)}, "
                          f"got {_short(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), **_default(self.default)}


@dataclass(frozen=True)
class Flag:
    default: bool | None = None

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Refused("bad_args", f"{name} must be true or false, got {_short(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean", **_default(self.default)}


@dataclass(frozen=True)
class Text:
    """A string of at most `max_len` characters matching `pattern` (an empty string always
    passes the pattern when it is the default)."""
    max_len: int
    pattern: str = r"[\s\S]*"
    default: str | None = None

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > self.max_len or \
                (value != self.default and not re.fullmatch(self.pattern, value)):
            raise Refused("bad_args", f"{name} must be a string of at most {self.max_len} "
                          f"characters matching {self.pattern}, got {_short(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_len, "pattern": f"^{self.pattern}$",
                **_default(self.default)}


@dataclass(frozen=True)
class Points:
    """A route: at most `max_points` [x, y] pairs of finite numbers in [lo, hi], handed to the
    executor flat (x0, y0, x1, y1, ...: a float64[] field). The default, no points, means "not
    given"."""
    lo: float
    hi: float
    max_points: int
    default: tuple[float, ...] | None = ()

    def check(self, name: str, value: Any) -> list[float]:
        def bad() -> Refused:
            return Refused("bad_args", f"{name} must be a list of at most {self.max_points} "
                           f"[x, y] pairs of numbers in [{self.lo:g}, {self.hi:g}], got {_short(value)}")
        if not isinstance(value, (list, tuple)) or len(value) > self.max_points:
            raise bad()
        flat: list[float] = []
        for pair in value:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise bad()
            for v in pair:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                        not math.isfinite(v) or not self.lo <= v <= self.hi:
                    raise bad()
                flat.append(float(v))
        return flat

    def schema(self) -> dict[str, Any]:
        number = {"type": "number", "minimum": self.lo, "maximum": self.hi}
        return {"type": "array", "maxItems": self.max_points,
                "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": number},
                **_default(None if self.default is None else list(self.default))}


Arg = Union[Number, Choice, Flag, Text, Points]


# --- executors -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Service:
    """A ROS service in the dog's namespace; `srv` is "package/Type"."""
    name: str
    srv: str


@dataclass(frozen=True)
class Action:
    """A ROS action goal; answered `ok` once the server accepted it."""
    name: str
    action: str


@dataclass(frozen=True)
class Window:
    """A listen or talk window kept by the uplink itself (answered at once)."""
    direction: str


@dataclass(frozen=True)
class Topic:
    """A velocity input: each sender publishes its own topic (`{sender}` in the name)."""
    name: str
    msg: str


Executor = Union[Service, Action, Window, Topic]


@dataclass(frozen=True)
class Verb:
    name: str
    summary: str
    senders: frozenset[str]
    executor: Executor
    args: Mapping[str, Arg] = field(default_factory=dict)
    #: Codes the executor answers a refusal with (besides COMMON_REFUSALS).
    refusals: tuple[str, ...] = ()
    #: The request's `endpoint` field is the sender (e-stop endpoints, resume).
    as_endpoint: bool = False
    #: Another request field that names the sender (the recorder's `source`).
    sender_field: str = ""
    #: Request fields the sender does not choose (`return` is FollowRoute to the route "home").
    constants: Mapping[str, Any] = field(default_factory=dict)
    #: Request field names that differ from the argument's (argument -> field).
    fields: Mapping[str, str] = field(default_factory=dict)
    #: Request fields filled from the signed command itself, not from its arguments (field ->
    #: envelope key: `issuer` is the station account that sent it, `dog` the dog it is for), so
    #: no argument can claim another sender (the uplink's lifecycle fills them).
    envelope_fields: Mapping[str, str] = field(default_factory=dict)
    #: Response fields the dog puts into the result's `data` when the executor accepted (the
    #: pairing code, sealed for the station request that asked: robot_dog/mqtt/reply_seal.py).
    result_fields: tuple[str, ...] = ()
    #: A check across the arguments (after each was checked alone): Refused (bad_args) when
    #: they do not go together, so every sender's path refuses it before anything is signed.
    rule: Callable[[Mapping[str, Any]], None] | None = None

    def schema(self) -> dict[str, Any]:
        """JSON Schema of `args` (what the station may put into a command of this verb)."""
        return {"type": "object", "additionalProperties": False,
                "properties": {name: arg.schema() for name, arg in self.args.items()},
                "required": [name for name, arg in self.args.items() if arg.default is None]}


def _route_or_waypoints(args: Mapping[str, Any]) -> None:
    """`patrol` walks the named route, or with route `waypoints` the waypoints given; waypoints
    with a named route are refused, not ignored."""
    if args["route"] == EXPLICIT_ROUTE and not args["waypoints"]:
        raise Refused("bad_args", f"route {EXPLICIT_ROUTE} needs waypoints")
    if args["route"] != EXPLICIT_ROUTE and args["waypoints"]:
        raise Refused("bad_args", f"waypoints are walked with route {EXPLICIT_ROUTE}, "
                      f"not {args['route']}")


def _text_or_clip(args: Mapping[str, Any]) -> None:
    if bool(args["text"].strip()) == bool(args["clip"]):
        raise Refused("bad_args", "give either text or clip")


def _verbs(*verbs: Verb) -> dict[str, Verb]:
    return {verb.name: verb for verb in verbs}


_ANYONE_ON_DUTY = frozenset({STATION, HANDHELD})
#: What payload_node answers a light or searchlight request with: a limit, the e-stop, or the
#: MCU that did not apply it (firmware_bridge/errors.py).
_PAYLOAD_REFUSALS = ("out_of_limits", "estop_engaged", "mcu_refused", "mcu_timeout",
                     "mcu_link_down", "superseded")
DURATION = Number(0.0, 3600.0, 0.0, unit="s")   # 0: the executor's default deadline
#: payload_node's requests name the person behind them (its log lines): the station account
#: from the signed command; from the handheld, its officer (robot_dog/teleop/page_requests.py).
_CALLER = {"caller": "issuer"}
#: How long a station check-in keeps the station live on the dog, s (the uplink's parameter
#: station_deadline_s overrides it).
STATION_DEADLINE_S = 2.0
#: Longest listen/talk window one command opens, s; the station refreshes it while in use.
MAX_AUDIO_WINDOW_S = 60.0
#: Longest `what` of an officer's task, characters.
TASK_WHAT_CHARS = 500

VERBS: dict[str, Verb] = _verbs(
    Verb("police_light", "red/blue light bar pattern", _ANYONE_ON_DUTY,
         Service("police_light/set", "robot_dog_interfaces/SetPoliceLight"),
         {"pattern": Choice(tuple(PATTERNS)), "rate_hz": Number(0.0, 10.0, 0.0, unit="Hz"),
          "duration_s": DURATION},
         refusals=_PAYLOAD_REFUSALS, envelope_fields=_CALLER),
    Verb("searchlight", "searchlight level and strobe", _ANYONE_ON_DUTY,
         Service("searchlight/set", "robot_dog_interfaces/SetSearchlight"),
         {"level": Number(0.0, 1.0, 0.0), "strobe": Flag(False), "duration_s": DURATION},
         refusals=_PAYLOAD_REFUSALS, envelope_fields=_CALLER),
    Verb("siren", "siren tone (off stops it)", _ANYONE_ON_DUTY,
         Service("megaphone/siren", "robot_dog_interfaces/Siren"),
         {"tone": Choice(("off", *TONES)), "max_duration_s": Number(0.0, 600.0, 30.0, unit="s")},
         refusals=("out_of_limits", "payload_safe", "too_hot")),
    Verb("estop", "engage the sender's e-stop hold (never refused by the safety node)",
         _ANYONE_ON_DUTY, Service("estop/engage", "robot_dog_interfaces/EstopEngage"),
         {"reason": Text(128, default="")}, refusals=("unknown_endpoint",), as_endpoint=True),
    Verb("estop_release", "release the sender's own e-stop hold (one that began before the "
         "command was issued; `hold_id` names it)", _ANYONE_ON_DUTY,
         Service("estop/release", "robot_dog_interfaces/EstopRelease"),
         {"hold_id": Text(32, r"[A-Za-z0-9]+", default="")},
         refusals=("unknown_endpoint", "not_held", "hold_mismatch", "not_engaged",
                   "release_before_hold", "check_in_first"), as_endpoint=True),
    Verb("resume", "let a paused autonomous input (patrol) drive again", _ANYONE_ON_DUTY,
         Service("motion/resume", "robot_dog_interfaces/MotionResume"),
         {"input": Text(32, r"[A-Za-z_][A-Za-z0-9_]*")},
         refusals=("unknown_endpoint", "unknown_input", "not_resumable", "estop_engaged", "locked"),
         as_endpoint=True),
    Verb("mode", "stand, sit or damp (checked by the safety node)", _ANYONE_ON_DUTY,
         Service("mode/set", "robot_dog_interfaces/SetBaseMode"),
         {"mode": Choice(("stand", "sit", "damp"))},
         refusals=("unknown_mode", "moving", "estop_engaged")),
    Verb("speed_mode", "crowd speed cap on or off", frozenset({HANDHELD}),
         Service("speed_mode/crowd", "std_srvs/SetBool"), {"crowd": Flag()},
         fields={"crowd": "data"}),
    Verb("checkin", "the station's signed heartbeat while it commands the dog (only a refusal "
         "is answered); leave: true leaves cleanly", frozenset({STATION}),
         Service("estop/check_in", "robot_dog_interfaces/EstopCheckIn"), {"leave": Flag(False)},
         refusals=("unknown_endpoint", "bad_timeout")),
    Verb("announce", "speak a text (TTS) or play a clip on the megaphone", frozenset({STATION}),
         Action("megaphone/announce", "robot_dog_interfaces/Announce"),
         {"text": Text(1000, default=""), "clip": Text(64, r"[A-Za-z0-9_-]+", default=""),
          "language": Choice(("en", "cmn"), "en"), "priority": Number(0, 199, 0, integer=True),
          "volume": Number(0.0, 1.0, 0.0), "repeat": Number(0, 5, 0, integer=True)},
         refusals=("rejected",), rule=_text_or_clip),
    Verb("listen", "stream the dog's microphone to the station for `seconds` (0 closes)",
         frozenset({STATION}), Window("listen"),
         {"seconds": Number(0.0, MAX_AUDIO_WINDOW_S, unit="s")}),
    Verb("talk", "play the station's sealed voice for `seconds` (0 closes); the station adds "
         "the window's id and key", frozenset({STATION}), Window("talk"),
         {"seconds": Number(0.0, MAX_AUDIO_WINDOW_S, unit="s"),
          "window": Text(16, WINDOW_ID.pattern, default=""),
          "key": Text(43, KEY_TEXT.pattern, default="")}),
    Verb("record", "start (or stop) the bodycam's evidence recording; the recorder counts the "
         "station as remote, so it cannot stop a locked recording, the officer at the dog can",
         _ANYONE_ON_DUTY, Service("bodycam/record", "robot_dog_interfaces/Record"),
         {"start": Flag(True), "reason": Text(120, default="operator_request"), "lock": Flag(False)},
         refusals=("locked", "trigger_active", "not_recording", "disabled", "store_error"),
         sender_field="source"),
    Verb("snapshot", "a still from the bodycam, hashed and chained like a segment",
         _ANYONE_ON_DUTY, Service("bodycam/snapshot", "robot_dog_interfaces/Snapshot"),
         {"reason": Text(120, default="operator_request")},
         refusals=("no_frame", "disabled", "store_error"), sender_field="source"),
    # Dispatch: goals of the patrol node (robot_dog/patrol/node.py). Answered `ok` once the node
    # has the goal; its progress is the telemetry section `goal`, its ending (arrived, blocked,
    # ... or refused with the node's code) a `goal` event. A goal drives at patrol priority, so
    # after any stop the patrol input waits for `resume`, like the patrol itself.
    Verb("goto", "send the dog to a point: x, y in its odom frame (m), or frame wgs84 with "
         "x = latitude, y = longitude (degrees)", frozenset({STATION}),
         Action("navigate_to", "robot_dog_interfaces/NavigateTo"),
         {"frame": Choice(("odom", "wgs84"), "odom"), "x": Number(-1e6, 1e6), "y": Number(-1e6, 1e6),
          "speed": Number(0.0, 1.5, 0.0, unit="m/s"), "tolerance_m": Number(0.0, 10.0, 0.0, unit="m"),
          "timeout_s": Number(0.0, 3600.0, 0.0, unit="s")}),
    Verb("patrol", "walk a route, round and round (loop) or once: the dog's patrol route, or "
         "with route waypoints the waypoints given, [[x, y], ...] in its odom frame (m) or frame "
         "wgs84 ([latitude, longitude], degrees)", frozenset({STATION}),
         Action("follow_route", "robot_dog_interfaces/FollowRoute"),
         {"route": Choice(("patrol", EXPLICIT_ROUTE), "patrol"),
          "waypoints": Points(-1e6, 1e6, ROUTE_POINTS_MAX),
          "frame": Choice(("odom", "wgs84"), "odom"), "loop": Flag(True)},
         rule=_route_or_waypoints),
    Verb("return", "walk back to the home point", frozenset({STATION}),
         Action("follow_route", "robot_dog_interfaces/FollowRoute"), {}, constants={"route": "home"}),
    Verb("cancel", "end the current goal or patrol route where the dog stands", _ANYONE_ON_DUTY,
         Service("patrol/cancel", "robot_dog_interfaces/CancelGoal"), {}, refusals=("no_goal",),
         as_endpoint=True),
    # The officer paired with the handheld (robot_dog/teleop/tasks.py, teleop/node.py).
    Verb("task", "give the officer paired with this dog's handheld a task of an incident: what "
         "to do and where (x, y in the odom frame, m, or frame wgs84 with x = latitude, "
         "y = longitude); the sender is the signed command's issuer. The officer's answers come "
         "back as officer_task events", frozenset({STATION}),
         Service("teleop/task", "robot_dog_interfaces/AssignTask"),
         {"incident": Text(64, r"[A-Za-z0-9][A-Za-z0-9_.:-]*"), "what": Text(TASK_WHAT_CHARS),
          "frame": Choice(("odom", "wgs84"), "odom"), "x": Number(-1e6, 1e6),
          "y": Number(-1e6, 1e6)},
         refusals=("no_officer",), envelope_fields={"sender": "issuer", "dog": "dog"}),
    Verb("pair_handheld", "open a one-time pairing code for the handheld, issued to a named "
         "officer (a station account); the code comes back sealed to the command's `key` (an "
         "X25519 public key) in "
         "the signed result (`data.sealed_code`), so only the station request that asked reads "
         "it. The sender is the signed command's issuer", frozenset({STATION}),
         Service("teleop/pair", "robot_dog_interfaces/PairHandheld"),
         {"officer": Text(MAX_NAME_CHARS), "key": Text(43, KEY_TEXT.pattern)},
         refusals=("bad_officer",), fields={"key": "seal_key"},
         envelope_fields={"sender": "issuer"}, result_fields=("sealed_code",)),
    Verb("revoke_handheld", "void the handheld's pairing (a lost phone): its token no longer "
         "resumes, its connection closes, the officer field goes back to none; the officer "
         "pairs again with a new code", frozenset({STATION}),
         Service("teleop/revoke", "std_srvs/Trigger"), {}),
    Verb("drive", "velocity from a stick or keys, each sender on its own mux input "
         "(robot_dog/config/twist_mux.yaml)", frozenset({HANDHELD, GAMEPAD, KEYBOARD}),
         Topic("teleop/{sender}/cmd_vel", "geometry_msgs/Twist"),
         {"x": Number(-1.0, 1.0), "z": Number(-1.0, 1.0)},
         refusals=("stale_frame",)),
)


@dataclass(frozen=True)
class Preset:
    """A named, fixed command: a button on the station page, a toggle on the phone. `pick`
    names one argument the page lets the operator choose (from `choices`, else the argument's
    own choices); `confirm` is asked before it is sent ({dog}: the dog's id)."""
    name: str
    label: str
    verb: str
    args: Mapping[str, Any]
    pick: str = ""
    choices: tuple[Any, ...] = ()
    confirm: str = ""


PRESETS: dict[str, Preset] = {p.name: p for p in (
    # "light on" is one pattern everywhere: the crowd-safe red/blue alternation.
    Preset("light_on", "On", "police_light", {"pattern": "alternate"}),
    Preset("light_off", "Off", "police_light", {"pattern": "off"}),
    Preset("searchlight_on", "On", "searchlight", {"level": 1.0}),
    Preset("searchlight_set", "Set", "searchlight", {}, pick="level",
           choices=(0.0, 0.25, 0.5, 0.75, 1.0)),
    Preset("searchlight_off", "Off", "searchlight", {"level": 0.0}),
    Preset("siren_on", "On", "siren", {"tone": "wail"}, pick="tone", choices=TONES),
    Preset("siren_off", "Off", "siren", {"tone": "off"}),
    Preset("estop", "E-STOP", "estop", {}),
    Preset("revoke_handheld", "Revoke", "revoke_handheld", {},
           confirm="Revoke the handheld paired with {dog}? Its phone stops commanding the dog "
                   "and its officer must pair again with a new code (a lost phone)."),
    Preset("estop_release", "Release e-stop", "estop_release", {},
           confirm="Release the station's e-stop on {dog}? The dog may move again when a driver "
                   "commands it. Holds of other endpoints stay."),
)}
#: The station page's button rows, in order (E-STOP and Release have their own place).
STATION_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Police light", ("light_on", "light_off")),
    ("Searchlight", ("searchlight_set",)),
    ("Siren", ("siren_on", "siren_off")),
    ("Handheld", ("revoke_handheld",)),
)
STATION_SAFETY = ("estop", "estop_release")


# --- checks --------------------------------------------------------------------------------------
def check(verb: str, args: Any, sender: str) -> dict[str, Any]:
    """`args` checked against the verb's schema with every default filled in, or Refused
    (unknown_verb, not_allowed, bad_args). Values are refused, never clamped."""
    spec = VERBS.get(verb)
    if spec is None:
        raise Refused("unknown_verb", f"no such command {_short(verb)}; known: {', '.join(VERBS)}")
    if sender not in spec.senders:
        raise Refused("not_allowed", f"{verb} may be sent by {', '.join(sorted(spec.senders))}, "
                      f"not by {sender}")
    if not isinstance(args, Mapping):
        raise Refused("bad_args", f"{verb} takes an object of arguments")
    extra = set(args) - set(spec.args)
    if extra:
        raise Refused("bad_args", f"{verb} takes only {', '.join(spec.args) or 'no arguments'}, "
                      f"got {', '.join(sorted(map(str, extra)))[:80]}")
    checked: dict[str, Any] = {}
    for name, arg in spec.args.items():
        if name in args:
            checked[name] = arg.check(name, args[name])
        elif arg.default is None:
            raise Refused("bad_args", f"{verb} needs {name}")
        else:
            checked[name] = arg.default
    if spec.rule is not None:
        spec.rule(checked)
    return checked


def request(verb: str, args: Any, sender: str) -> dict[str, Any]:
    """The executor's request fields for a checked command from `sender`."""
    checked = check(verb, args, sender)
    spec = VERBS[verb]
    fields = {spec.fields.get(name, name): value for name, value in checked.items()}
    if spec.as_endpoint:
        fields["endpoint"] = sender
    if spec.sender_field:
        fields[spec.sender_field] = sender
    fields.update(spec.constants)
    return fields


def service(verb: str) -> Service:
    executor = VERBS[verb].executor
    if not isinstance(executor, Service):
        raise TypeError(f"{verb} is not executed by a service")
    return executor


def executor_name(verb: str) -> str:
    """The ROS name (service, action or topic) that executes `verb`: the one place it is written."""
    executor = VERBS[verb].executor
    if isinstance(executor, Window):
        raise TypeError(f"{verb} is executed by the uplink itself")
    return executor.name


def services(sender: str) -> dict[str, Service]:
    """Service name -> Service of the verbs `sender` may send (a shell creates one client each)."""
    return {e.name: e for v in VERBS.values()
            if isinstance(e := v.executor, Service) and sender in v.senders}


def served(sender: str, ready: Callable[[str], bool]) -> list[str]:
    """The verbs `sender` may send that this dog executes now, in the table's order: those
    whose service or action server `ready(name)` finds (a payload node that is not running
    serves none of its verbs), and the uplink's own listen/talk windows. The uplink sends it
    as the telemetry section `served`; the console disables the others with the reason."""
    return [v.name for v in VERBS.values() if sender in v.senders and (
        isinstance(v.executor, Window) or
        (isinstance(v.executor, (Service, Action)) and ready(v.executor.name)))]


def refusals(verb: str) -> tuple[str, ...]:
    return COMMON_REFUSALS + VERBS[verb].refusals


# --- what clients read ---------------------------------------------------------------------------
def catalog(sender: str | None = None) -> dict[str, Any]:
    """The JSON document of `GET /api/verbs`: every verb (or those `sender` may send) with its
    argument schema, senders, executor and refusal codes, and the station page's buttons."""
    def executor(e: Executor) -> dict[str, str]:
        kind = type(e).__name__.lower()
        return {"kind": kind, **{k: str(v) for k, v in vars(e).items()}}

    def preset(p: Preset) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": p.name, "label": p.label, "verb": p.verb, "args": dict(p.args)}
        if p.pick:
            arg = VERBS[p.verb].args[p.pick]
            doc["pick"] = {"arg": p.pick, "choices": list(p.choices or getattr(arg, "choices", ()))}
        if p.confirm:
            doc["confirm"] = p.confirm
        return doc

    verbs = [v for v in VERBS.values() if sender is None or sender in v.senders]
    return {
        "verbs": [{"name": v.name, "summary": v.summary, "senders": sorted(v.senders),
                   "executor": executor(v.executor), "args": v.schema(),
                   "refusals": list(refusals(v.name))} for v in verbs],
        "presets": {name: preset(p) for name, p in PRESETS.items()},
        "station": {"rows": [{"label": label, "presets": list(names)} for label, names in STATION_ROWS],
                    "safety": list(STATION_SAFETY)},
    }


def markdown() -> str:
    """docs/verbs.md: the verb table, generated (a test keeps the file identical)."""
    lines = ["# Command verbs", "",
             "Generated from `robot_dog/verbs.py` by `python -m robot_dog.verbs > docs/verbs.md`; "
             "a test keeps this page identical. The station serves the same table as JSON at "
             "`GET /api/verbs`. Every verb can also be refused with "
             + ", ".join(f"`{c}`" for c in COMMON_REFUSALS) + " (docs/errors.md).", "",
             "| verb | senders | executor | arguments | refusal codes |", "|---|---|---|---|---|"]
    for v in VERBS.values():
        where = _where(v.executor)
        args = "; ".join(f"`{n}` {_describe(a)}" for n, a in v.args.items()) or "none"
        lines.append(f"| `{v.name}` | {', '.join(sorted(v.senders))} | {where} | {args} | "
                     f"{', '.join(f'`{c}`' for c in v.refusals) or '-'} |")
    return "\n".join(lines) + "\n"


def _where(e: Executor) -> str:
    if isinstance(e, Service):
        return f"service `{e.name}` ({e.srv})"
    if isinstance(e, Action):
        return f"action `{e.name}` ({e.action})"
    if isinstance(e, Window):
        return f"uplink {e.direction} window"
    return f"topic `{e.name}` ({e.msg})"


def _describe(arg: Arg) -> str:
    if isinstance(arg, Number):
        text = f"{'integer' if arg.integer else 'number'} {arg.lo:g}..{arg.hi:g}{' ' + arg.unit if arg.unit else ''}"
    elif isinstance(arg, Choice):
        text = " \\| ".join(arg.choices)
    elif isinstance(arg, Flag):
        text = "true \\| false"
    elif isinstance(arg, Points):
        text = f"[[x, y], ...] <= {arg.max_points} points, each {arg.lo:g}..{arg.hi:g}"
    else:
        text = f"text <= {arg.max_len}"
    default = "required" if arg.default is None else f"default {json.dumps(arg.default)}"
    return f"{text} ({default})"


def _default(value: Any) -> dict[str, Any]:
    return {} if value is None else {"default": value}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


if __name__ == "__main__":
    print(markdown(), end="")
