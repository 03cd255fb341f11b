"""Every message of the payload serial protocol (docs/serial_protocol.md), as typed dataclasses.

Bodies are little-endian `struct` layouts, one table (`_LAYOUTS`) for all of them. Units are in
the field names: `_ms` milliseconds, `_mv` millivolts, `_ma` milliamperes, `_pm` per mille
(0..1000), `_chz` centi-hertz (0.01 Hz), `_dc` deci-degrees Celsius (0.1 degC), `_pct` percent.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import astuple, dataclass
from typing import ClassVar, Union

from firmware_bridge.errors import LocalProtocolError, RemoteProtocolError

#: 2: command seqs grow within a session and never wrap (docs/serial_protocol.md section 3).
PROTOCOL_VERSION = 2
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
    TYPE: ClassVar[MsgType] = MsgType.TELEMETRY


Message = Union[Hello, Heartbeat, SetLight, SetSearchlight, SetAmplifier, Safe, ClearFaults,
                Ack, Telemetry]
COMMANDS = (Hello, SetLight, SetSearchlight, SetAmplifier, Safe, ClearFaults)

#: type -> (class, struct layout of the body, converters applied to decoded fields)
_LAYOUTS: dict[MsgType, tuple[type, struct.Struct]] = {
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
_ENUM_FIELDS: dict[type, dict[int, type]] = {
    SetLight: {0: LightPattern},
    Ack: {0: AckStatus},
    Telemetry: {7: LightPattern, 17: SafeReason, 18: Fault},
}


def body_size(msg_type: MsgType) -> int:
    return _LAYOUTS[msg_type][1].size


def encode_body(message: Message) -> bytes:
    """Body bytes of `message`; LocalProtocolError if a field does not fit its wire type."""
    _cls, layout = _LAYOUTS[message.TYPE]
    try:
        return layout.pack(*(int(v) for v in astuple(message)))
    except struct.error as exc:
        raise LocalProtocolError(f"{type(message).__name__}: {exc}") from None


def decode_body(msg_type: int, body: bytes) -> Message:
    """Message from its type and body; RemoteProtocolError if unknown or of the wrong size.

    Fail-safe decoding: an enum value this side does not know (a newer peer's pattern or ACK
    status) stays a plain int for the receiver to report or refuse; unknown flag bits are kept.
    """
    try:
        cls, layout = _LAYOUTS[MsgType(msg_type)]
    except ValueError:
        raise RemoteProtocolError("unknown_type", f"0x{msg_type:02x}") from None
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
