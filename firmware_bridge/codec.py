"""Sans-I/O framing: bytes in -> frames out, messages -> bytes. No port, thread or clock here.

Wire frame: COBS(version u8 | type u8 | seq u16 | body | crc16 u16) followed by one 0x00.
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over version..body, little-endian like every field.
A bad frame (framing: COBS, length, CRC) is counted by reason; decoding restarts at the next
0x00. A well-formed frame this side cannot use (other version, unknown type, wrong body length)
is a *refusal*, counted apart: the line is fine, the peer speaks something else. Logging is
rate-limited by count (no clock here): the first few bad frames one line each, then one summary
line at every power of ten, so garbage at line rate gives a handful of lines, not one per frame.
"""
from __future__ import annotations

import binascii
import logging
import struct
from collections import Counter
from collections import deque
from dataclasses import dataclass

from firmware_bridge import cobs
from firmware_bridge.errors import LocalProtocolError, RemoteProtocolError
from firmware_bridge.messages import PROTOCOL_VERSION, Message, decode_body, encode_body

_LOGGER = logging.getLogger(__name__)

DELIMITER = 0x00
HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<H")
MAX_BODY = 240
#: Longest raw frame (header + body + CRC); below 254 so COBS adds exactly one byte.
MAX_RAW = HEADER.size + MAX_BODY + CRC.size
#: Longest frame on the wire, delimiter excluded.
MAX_WIRE = MAX_RAW + 1


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE; check value crc16(b"123456789") == 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    """A valid frame: its sequence number and decoded message (and the version it came in)."""
    seq: int
    message: Message
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Rejected:
    """A frame with a good CRC whose content this side cannot use (answer it with a status)."""
    version: int
    msg_type: int
    seq: int
    reason: str   # bad_version, unknown_type, bad_length


Event = Frame | Rejected


def encode_frame(message: Message, seq: int, version: int = PROTOCOL_VERSION) -> bytes:
    """Wire bytes of one frame, delimiter included."""
    if not 0 <= seq <= 0xFFFF:
        raise LocalProtocolError(f"seq {seq} outside 0..65535")
    body = encode_body(message, version)
    if len(body) > MAX_BODY:
        raise LocalProtocolError(f"body of {len(body)} bytes > {MAX_BODY}")
    raw = HEADER.pack(version, int(message.TYPE), seq) + body
    raw += CRC.pack(crc16(raw))
    return cobs.encode(raw) + b"\x00"


def parse_raw(raw: bytes, versions: tuple[int, ...] = (PROTOCOL_VERSION,)) -> Event:
    """Frame or Rejected from one unstuffed frame; RemoteProtocolError if it is garbage.
    `versions`: the protocol versions this side reads (others are refused bad_version)."""
    if len(raw) < HEADER.size + CRC.size:
        raise RemoteProtocolError("short", f"{len(raw)} bytes")
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC.size)
    if crc16(raw[:-CRC.size]) != crc:
        raise RemoteProtocolError("crc")
    version, msg_type, seq = HEADER.unpack_from(raw)
    if version not in versions:
        return Rejected(version, msg_type, seq, "bad_version")
    try:
        return Frame(seq, decode_body(msg_type, raw[HEADER.size:-CRC.size], version), version)
    except RemoteProtocolError as exc:
        return Rejected(version, msg_type, seq, exc.reason)


class FrameDecoder:
    """Stream decoder: `receive_data(bytes)`, then `next_event()` until it returns None."""

    def __init__(self, name: str = "link", versions: tuple[int, ...] = (PROTOCOL_VERSION,)) -> None:
        self.name = name
        self.versions = versions
        self._buffer = bytearray()
        self._discarding = False       # inside an over-long frame: skip to the next delimiter
        self._events: deque[Event] = deque()
        self.frames_ok = 0
        self.bad_frames: Counter[str] = Counter()   # framing errors by reason
        self.refused: Counter[str] = Counter()      # well-formed but unusable, by reason

    @property
    def bad_total(self) -> int:
        """Frames dropped for framing errors (refusals not included)."""
        return sum(self.bad_frames.values())

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def receive_data(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(DELIMITER, start)
            if end == -1:
                self._append(data[start:])
                return
            self._append(data[start:end])
            self._end_of_frame()
            start = end + 1

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def _append(self, chunk: bytes) -> None:
        if self._discarding or not chunk:
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_WIRE:
            self._bad("too_long", f">{MAX_WIRE} bytes without delimiter")
            self._buffer.clear()
            self._discarding = True

    def _end_of_frame(self) -> None:
        chunk = bytes(self._buffer)
        self._buffer.clear()
        if self._discarding:
            self._discarding = False
            return
        if not chunk:
            return  # back-to-back delimiters: idle fill / resync, not an error
        try:
            event = parse_raw(cobs.decode(chunk), self.versions)
        except RemoteProtocolError as exc:
            self._bad(exc.reason, str(exc))
            return
        if isinstance(event, Rejected):
            self.refused[event.reason] += 1
            # A warning: the line is fine but the peer speaks something else (a firmware
            # update, a wrong device): someone has to act, unlike a garbled byte.
            _log_throttled(self.refused_total, "%s: refused frame #%d: %s, version %d type 0x%02x "
                           "seq %d%s", self.name, self.refused_total, event.reason, event.version,
                           event.msg_type, event.seq, _summary(self.refused),
                           level=logging.WARNING)
        else:
            self.frames_ok += 1
        self._events.append(event)

    def _bad(self, reason: str, detail: str) -> None:
        self.bad_frames[reason] += 1
        _log_throttled(self.bad_total, "%s: bad frame #%d dropped (%s: %s)%s", self.name,
                       self.bad_total, reason, detail, _summary(self.bad_frames))


#: Bad or refused frames logged one line each before the log thins out to powers of ten.
LOG_FIRST = 3


def _log_throttled(count: int, fmt: str, *args: object, level: int = logging.INFO) -> None:
    if count <= LOG_FIRST or _power_of_ten(count):
        _LOGGER.log(level, fmt, *args)


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


def _summary(counts: Counter[str]) -> str:
    total = sum(counts.values())
    if total <= LOG_FIRST:
        return ""
    return "; so far " + ", ".join(f"{k} {v}" for k, v in counts.most_common()) + \
        "; logging only every power of ten from here"
