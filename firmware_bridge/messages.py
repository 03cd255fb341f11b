"""Every message of the payload serial protocol (docs/serial_protocol.md), as typed dataclasses.

Bodies are little-endian `struct` layouts, one table per protocol version (`_LAYOUTS`). Units are in
the field names: `_ms` milliseconds, `_mv` millivolts, `_ma` milliamperes, `_pm` per mille
(0..1000), `_chz` centi-hertz (0.01 Hz), `_dc` deci-degrees Celsius (0.1 degC), `_pct` percent.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import astuple, dataclass
from typing import ClassVar, Union

from firmware_bridge.errors import LocalProtocolError, RemoteProtocolError

#: 3: ACKs name the type and session they answer, TELEMETRY carries the MCU's boot id and the
#: newest heartbeat it heard, EVENT frames push safe-state changes at once (section 1 of
#: docs/serial_protocol.md says why). 2: command seqs grow within a session and never wrap.
PROTOCOL_VERSION = 3
#: Versions a host understands during the transition (it offers the newest, section 5).
HOST_VERSIONS = (3, 2)
#: Commands the MCU remembers the answer to (section 6); a host never has a command in flight
#: that is this many numbers older than the one it sends next, so every resend hits the cache.
DEDUP_DEPTH = 32
#: Longest command duration the MCU accepts (1 h): every actuator command lapses.
MAX_DURATION_MS = 3_600_000
#: Longest searchlight strobe the MCU accepts in one command.
MAX_STROBE_MS = 30_000


class MsgType(enum.IntEnum):
    # host -> MCU (all but HEARTBEAT are acknowledged)
    HELLO = 0x01
    HEARTBEAT = 0x02
    SET_LIGHT = 0x10
    SET_SEARCHLIGHT = 0x11
    SET_AMPLIFIER = 0x12
    SAFE = 0x13
    CLEAR_FAULTS = 0x14
    # MCU -> host
    ACK = 0x80
    TELEMETRY = 0x81
    EVENT = 0x82        # version 3: a safe-state or fault change, pushed at once


class AckStatus(enum.IntEnum):
    OK = 0
    STALE = 1          # a newer command of the same type was already applied; not applied
    UNKNOWN_TYPE = 2
    BAD_LENGTH = 3
    OUT_OF_RANGE = 4
    SAFE_STATE = 5     # refused while the MCU holds the safe state
    BAD_VERSION = 6
    NO_SESSION = 7     # command before HELLO (e.g. the MCU rebooted)


class LightPattern(enum.IntEnum):
    OFF = 0
    STEADY = 1
    FLASH = 2        # both heads together at rate
    ALTERNATE = 3    # red, then blue; each head at rate
    QUAD_FLASH = 4   # bursts of 4 short flashes, red burst then blue burst; each head at rate


class SafeReason(enum.IntFlag):
    NONE = 0
    HEARTBEAT_LOST = 0x01
    COMMANDED = 0x02
    BUTTON = 0x04          # the payload's e-stop button is pressed (live, follows the button)


class Fault(enum.IntFlag):
    NONE = 0
    HEARTBEAT_LOST = 0x0001       # latched; CLEAR_FAULTS
    SEARCHLIGHT_OVERTEMP = 0x0002  # live: searchlight forced off
    AMPLIFIER_OVERTEMP = 0x0004    # live: amplifier forced off
    BATTERY_LOW = 0x0008           # live: charge < 20 %
    BATTERY_CRITICAL = 0x0010      # live: charge < 5 %
    RX_ERRORS = 0x0020             # latched: the MCU dropped a bad frame


# ---- host -> MCU ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello:
    session_id: int  # random, non-zero, one per host process
    TYPE: ClassVar[MsgType] = MsgType.HELLO


@dataclass(frozen=True)
class Heartbeat:
    beat: int = 0      # version 3: host's beat counter 1..65535 (wraps to 1), echoed in telemetry
    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT


@dataclass(frozen=True)
class SetLight:
    pattern: LightPattern
    rate_chz: int      # flash rate of each head, 0.01 Hz; 0 for OFF and STEADY
    duration_ms: int   # lapses to OFF after this
    TYPE: ClassVar[MsgType] = MsgType.SET_LIGHT


@dataclass(frozen=True)
class SetSearchlight:
    level_pm: int      # 0..1000
    strobe: bool
    duration_ms: int   # lapses to off after this
    TYPE: ClassVar[MsgType] = MsgType.SET_SEARCHLIGHT


@dataclass(frozen=True)
class SetAmplifier:
    enabled: bool
    volume_cap_pct: int  # 0..100
    duration_ms: int
    TYPE: ClassVar[MsgType] = MsgType.SET_AMPLIFIER


@dataclass(frozen=True)
class Safe:
    engage: bool       # True: hold the safe state (e-stop); False: release the commanded hold
    TYPE: ClassVar[MsgType] = MsgType.SAFE


@dataclass(frozen=True)
class ClearFaults:
    mask: int
    TYPE: ClassVar[MsgType] = MsgType.CLEAR_FAULTS


# ---- MCU -> host ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Ack:
    status: AckStatus
    type: int = 0          # version 3: the type of the frame answered
    session_id: int = 0    # version 3: the MCU's session after answering (0: none)
    TYPE: ClassVar[MsgType] = MsgType.ACK


@dataclass(frozen=True)
class Telemetry:
    uptime_ms: int
    battery_mv: int
    battery_ma: int            # + discharging
    charge_pm: int
    battery_temp_dc: int
    searchlight_temp_dc: int
    amplifier_temp_dc: int
    light_pattern: LightPattern
    light_rate_chz: int
    light_outputs: int         # bit0 red on, bit1 blue on (at the moment of sampling)
    light_remaining_ms: int
    searchlight_level_pm: int
    searchlight_strobe: bool
    searchlight_remaining_ms: int
    amp_enabled: bool
    amp_volume_cap_pct: int
    amp_remaining_ms: int
    safe_reasons: SafeReason
    faults: Fault
    rx_bad_frames: int         # wraps at 65536
    boot_id: int = 0           # version 3: random non-zero, new at every MCU boot (0: v2 peer)
    beat_echo: int = 0         # version 3: `beat` of the newest HEARTBEAT heard (0: none yet)
    TYPE: ClassVar[MsgType] = MsgType.TELEMETRY


@dataclass(frozen=True)
class Event:
    """Version 3: sent at boot and at once whenever `safe_reasons` or `faults` change; not
    acknowledged (telemetry repeats the state every 100 ms; the event only makes it early)."""
    uptime_ms: int
    safe_reasons: SafeReason
    faults: Fault
    boot_id: int = 0           # as in TELEMETRY: a restart shows in whichever frame comes first
    TYPE: ClassVar[MsgType] = MsgType.EVENT


Message = Union[Hello, Heartbeat, SetLight, SetSearchlight, SetAmplifier, Safe, ClearFaults,
                Ack, Telemetry, Event]
COMMANDS = (Hello, SetLight, SetSearchlight, SetAmplifier, Safe, ClearFaults)

_V2: dict[MsgType, tuple[type, struct.Struct]] = {
    MsgType.HELLO: (Hello, struct.Struct("<I")),
    MsgType.HEARTBEAT: (Heartbeat, struct.Struct("<")),
    MsgType.SET_LIGHT: (SetLight, struct.Struct("<BHI")),
    MsgType.SET_SEARCHLIGHT: (SetSearchlight, struct.Struct("<H?I")),
    MsgType.SET_AMPLIFIER: (SetAmplifier, struct.Struct("<?BI")),
    MsgType.SAFE: (Safe, struct.Struct("<?")),
    MsgType.CLEAR_FAULTS: (ClearFaults, struct.Struct("<H")),
    MsgType.ACK: (Ack, struct.Struct("<B")),
    MsgType.TELEMETRY: (Telemetry, struct.Struct("<IHhHhhhBHBIH?I?BIBHH")),
}
#: version -> type -> (class, struct layout of the body). A layout packs the class's first
#: fields in order; fields it leaves out keep their defaults (a version-2 peer's ACK has no type).
_LAYOUTS: dict[int, dict[MsgType, tuple[type, struct.Struct]]] = {
    2: _V2,
    3: {**_V2,
        MsgType.HEARTBEAT: (Heartbeat, struct.Struct("<H")),
        MsgType.ACK: (Ack, struct.Struct("<BBI")),
        MsgType.TELEMETRY: (Telemetry, struct.Struct("<IHhHhhhBHBIH?I?BIBHHIH")),
        MsgType.EVENT: (Event, struct.Struct("<IBHI")),
        },
}
_ENUM_FIELDS: dict[type, dict[int, type]] = {
    SetLight: {0: LightPattern},
    Ack: {0: AckStatus},
    Telemetry: {7: LightPattern, 17: SafeReason, 18: Fault},
    Event: {1: SafeReason, 2: Fault},
}


def _layout(msg_type: int, version: int) -> tuple[type, struct.Struct]:
    try:
        return _LAYOUTS[version][MsgType(msg_type)]
    except (KeyError, ValueError):
        raise RemoteProtocolError("unknown_type", f"0x{msg_type:02x} in version {version}") from None


def body_size(msg_type: MsgType, version: int = PROTOCOL_VERSION) -> int:
    return _layout(msg_type, version)[1].size


def encode_body(message: Message, version: int = PROTOCOL_VERSION) -> bytes:
    """Body bytes of `message`; LocalProtocolError if a field does not fit its wire type or
    the message does not exist in `version`."""
    try:   # a version not known here (a test of refusals) is laid out as the newest
        _cls, layout = _layout(message.TYPE, version if version in _LAYOUTS else PROTOCOL_VERSION)
    except RemoteProtocolError:
        raise LocalProtocolError(f"{type(message).__name__} does not exist in version {version}") from None
    values = astuple(message)[:len(layout.unpack(bytes(layout.size)))]
    try:
        return layout.pack(*(int(v) for v in values))
    except struct.error as exc:
        raise LocalProtocolError(f"{type(message).__name__}: {exc}") from None


def decode_body(msg_type: int, body: bytes, version: int = PROTOCOL_VERSION) -> Message:
    """Message from its type and body; RemoteProtocolError if unknown or of the wrong size.

    Fail-safe decoding: an enum value this side does not know (a newer peer's pattern or ACK
    status) stays a plain int for the receiver to report or refuse; unknown flag bits are kept.
    """
    cls, layout = _layout(msg_type, version)
    if len(body) != layout.size:
        raise RemoteProtocolError("bad_length", f"{cls.__name__} body {len(body)} != {layout.size}")
    fields = list(layout.unpack(body))
    for index, enum_cls in _ENUM_FIELDS.get(cls, {}).items():
        try:
            fields[index] = enum_cls(fields[index])
        except ValueError:
            pass  # unknown value: kept as int
    message: Message = cls(*fields)
    return message


def known(value: int, enum_cls: type[enum.IntEnum]) -> bool:
    """True when `value` is a member of `enum_cls` (decoding keeps unknown values as ints)."""
    return isinstance(value, enum_cls)


def enum_name(value: int, enum_cls: type[enum.IntEnum]) -> str:
    """Member name, or UNKNOWN_<value> for a value from a newer protocol revision."""
    return value.name if isinstance(value, enum_cls) else f"UNKNOWN_{int(value)}"
