"""Sans-I/O MQTT 5 wire format: the subset a station's session needs (h11 style).

Bytes in -> packets out (`Decoder.feed`), packets -> bytes (`connect`, `subscribe`, `publish`,
`puback`, `pingreq`, `disconnect`). No socket, thread or clock here, so the codec is tested on
byte vectors and the I/O shell (robot_dog.mqtt.batch_link) only moves bytes.

Why it exists beside paho: the station receives tens of thousands of small QoS 1 messages per
second. paho reads a packet with three `recv` calls, wakes its loop through a socket pair for
every PUBACK and builds an MQTTMessage with parsed properties per message; this decoder parses
every packet of a 256 KiB read in one pass and the shell answers them with one `sendall`.

Scope (what a subscriber that also publishes QoS 0/1 needs): CONNECT (user, password, clean
start, keep alive, session expiry, receive maximum, maximum packet size), CONNACK, SUBSCRIBE /
SUBACK, UNSUBSCRIBE / UNSUBACK, PUBLISH QoS 0/1 both ways (properties skipped on receipt; message expiry on send),
PUBACK, PINGREQ/PINGRESP, DISCONNECT. QoS 2, AUTH, topic aliases (we advertise none, so a
broker sends none) and wills are refused or unused.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from robot_dog.mqtt.errors import MqttLinkError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# Packet types (high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# Property identifiers we write or read.
_MESSAGE_EXPIRY = 0x02
_SESSION_EXPIRY = 0x11
_RECEIVE_MAXIMUM = 0x21
_MAXIMUM_PACKET_SIZE = 0x27
_REASON_STRING = 0x1F

#: Reason codes worth a name in logs (MQTT 5 section 2.4); others print as hex.
REASONS = {
    0x00: "Success", 0x04: "Disconnect with will", 0x80: "Unspecified error",
    0x81: "Malformed packet", 0x82: "Protocol error", 0x83: "Implementation specific error",
    0x84: "Unsupported protocol version", 0x85: "Client identifier not valid",
    0x86: "Bad user name or password", 0x87: "Not authorized", 0x88: "Server unavailable",
    0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down", 0x8D: "Keep alive timeout",
    0x8E: "Session taken over", 0x90: "Topic name invalid", 0x93: "Receive maximum exceeded",
    0x95: "Packet too large", 0x97: "Quota exceeded", 0x9C: "Use another server",
    0x9D: "Server moved",
}


def reason_text(code: int) -> str:
    return REASONS.get(code, f"reason 0x{code:02x}")


class ProtocolError(MqttLinkError):
    """The peer sent bytes that are not MQTT 5 as this codec speaks it: drop the connection."""


# --- packets in ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    receive_maximum: int = 65535

    @property
    def ok(self) -> bool:
        return self.reason < 0x80


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int  # 0 for QoS 0
    retain: bool = False
    dup: bool = False


@dataclass(frozen=True, slots=True)
class PubAck:
    packet_id: int
    reason: int


@dataclass(frozen=True, slots=True)
class SubAck:
    packet_id: int
    reasons: tuple[int, ...]  # granted QoS (0..2) or a failure code >= 0x80


@dataclass(frozen=True, slots=True)
class UnsubAck:
    packet_id: int
    reasons: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: int
    reason_string: str = ""


Packet = ConnAck | Publish | PubAck | SubAck | UnsubAck | PingResp | Disconnect


# --- encoding ------------------------------------------------------------------------------------
def varint(n: int) -> bytes:
    """Variable byte integer (MQTT 5 section 1.5.5), 0 .. 268,435,455."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError("string longer than 65,535 bytes")
    return _U16.pack(len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def connect(client_id: str, *, username: str | None = None, password: str | None = None,
            keepalive_s: int = 30, clean_start: bool = True, session_expiry_s: int = 0,
            receive_maximum: int = 65535, maximum_packet_size: int = 0) -> bytes:
    flags = (0x02 if clean_start else 0) | (0x80 if username is not None else 0) | (
        0x40 if password is not None else 0)
    props = b""
    if session_expiry_s:
        props += bytes((_SESSION_EXPIRY,)) + _U32.pack(session_expiry_s)
    if receive_maximum != 65535:
        props += bytes((_RECEIVE_MAXIMUM,)) + _U16.pack(receive_maximum)
    if maximum_packet_size:
        props += bytes((_MAXIMUM_PACKET_SIZE,)) + _U32.pack(maximum_packet_size)
    body = (_str("MQTT") + bytes((5, flags)) + _U16.pack(keepalive_s) + varint(len(props)) + props
            + _str(client_id))
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(CONNECT << 4, body)


def subscribe(packet_id: int, filters: list[tuple[str, int, bool]], *,
              retain_as_published: bool = False) -> bytes:
    """One SUBSCRIBE for [(filter, qos, no_local)]. `retain_as_published`: live messages keep
    the retain flag their publisher set (else the broker clears it on forwarding)."""
    rap = 0x08 if retain_as_published else 0
    body = _U16.pack(packet_id) + b"\x00" + b"".join(
        _str(f) + bytes((qos | rap | (0x04 if no_local else 0),)) for f, qos, no_local in filters)
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def unsubscribe(packet_id: int, filters: list[str]) -> bytes:
    body = _U16.pack(packet_id) + b"\x00" + b"".join(_str(f) for f in filters)
    return _packet((UNSUBSCRIBE << 4) | 0x02, body)


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, *, retain: bool = False,
            dup: bool = False, expiry_s: int | None = None) -> bytes:
    if qos not in (0, 1):
        raise ValueError("QoS 0 or 1 only")
    props = b"" if expiry_s is None else bytes((_MESSAGE_EXPIRY,)) + _U32.pack(expiry_s)
    head = _str(topic) + (_U16.pack(packet_id) if qos else b"") + varint(len(props)) + props
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    return bytes((first,)) + varint(len(head) + len(payload)) + head + payload


def puback(packet_id: int) -> bytes:
    """Success PUBACK: reason code and properties omitted (MQTT 5 section 3.4.2.1)."""
    return b"\x40\x02" + _U16.pack(packet_id)


def pubacks(packet_ids: list[int]) -> bytes:
    """Many PUBACKs, in order, for one write."""
    return b"".join(b"\x40\x02" + _U16.pack(p) for p in packet_ids)


PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"  # normal disconnection: the broker drops any will
#: Normal disconnection that also ends the session now (Session Expiry Interval 0): the broker
#: forgets its subscriptions instead of queueing for it.
DISCONNECT_ENDING_SESSION = b"\xe0\x07\x00\x05" + bytes((_SESSION_EXPIRY,)) + _U32.pack(0)


# --- decoding ------------------------------------------------------------------------------------
class Decoder:
    """Feed it received bytes; it returns every complete packet and keeps the rest."""

    def __init__(self, max_packet_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_packet_bytes = max_packet_bytes
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buf
        buf += data
        out: list[Packet] = []
        pos, end = 0, len(buf)
        view = memoryview(buf)
        try:
            while end - pos >= 2:
                first = buf[pos]
                length, shift, i, complete = 0, 0, pos + 1, False
                while i < end:  # remaining length: 1..4 bytes, 7 bits each
                    digit = buf[i]
                    i += 1
                    length |= (digit & 0x7F) << shift
                    if digit < 0x80:
                        complete = True
                        break
                    shift += 7
                    if shift > 21:
                        raise ProtocolError("remaining length longer than 4 bytes")
                if not complete:
                    break
                if length + (i - pos) > self.max_packet_bytes:
                    raise ProtocolError(f"packet of {length} bytes exceeds {self.max_packet_bytes}")
                if end - i < length:
                    break
                out.append(_decode(first, view[i:i + length]))
                pos = i + length
        finally:
            view.release()
        if pos:
            del buf[:pos]
        return out


def _decode(first: int, body: memoryview) -> Packet:
    try:
        return _decode_body(first, body)
    except (IndexError, struct.error):
        raise ProtocolError(f"packet type {first >> 4} shorter than its fields") from None


def _decode_body(first: int, body: memoryview) -> Packet:
    kind = first >> 4
    if kind == PUBLISH:
        return _decode_publish(first, body)
    if kind == PUBACK:
        if len(body) < 2:
            raise ProtocolError("PUBACK shorter than 2 bytes")
        return PubAck(_U16.unpack_from(body)[0], body[2] if len(body) > 2 else 0)
    if kind == CONNACK:
        if len(body) < 2:
            raise ProtocolError("CONNACK shorter than 2 bytes")
        receive_maximum = 65535
        if len(body) > 2:
            props, _ = _properties(body, 2)
            value = props.get(_RECEIVE_MAXIMUM, 65535)
            receive_maximum = value if isinstance(value, int) else 65535
        return ConnAck(bool(body[0] & 0x01), body[1], receive_maximum)
    if kind in (SUBACK, UNSUBACK):
        if len(body) < 3:
            raise ProtocolError("SUBACK/UNSUBACK shorter than 3 bytes")
        _, at = _properties(body, 2)
        return (SubAck if kind == SUBACK else UnsubAck)(_U16.unpack_from(body)[0], tuple(body[at:]))
    if kind == PINGRESP:
        return PingResp()
    if kind == DISCONNECT:
        if not len(body):
            return Disconnect(0)
        props = _properties(body, 1)[0] if len(body) > 1 else {}
        return Disconnect(body[0], str(props.get(_REASON_STRING, "")))
    raise ProtocolError(f"unexpected packet type {kind} from the broker")


def _decode_publish(first: int, body: memoryview) -> Publish:
    qos = (first >> 1) & 0x03
    if qos > 1:
        raise ProtocolError(f"PUBLISH with QoS {qos}: this session subscribes with QoS <= 1")
    if len(body) < 2:
        raise ProtocolError("PUBLISH without a topic")
    n = (body[0] << 8) | body[1]
    at = 2 + n
    try:
        topic = str(body[2:at], "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("PUBLISH topic is not UTF-8") from None
    packet_id = 0
    if qos:
        packet_id = (body[at] << 8) | body[at + 1]
        at += 2
    # Properties: skipped (their length is a varint, almost always 1 byte: 0 or a few props).
    plen = body[at]
    if plen < 0x80:
        at += 1 + plen
    else:
        plen, at = _varint_at(body, at)
        at += plen
    if at > len(body) or not topic:
        raise ProtocolError("PUBLISH shorter than its header")
    return Publish(topic, bytes(body[at:]), qos, packet_id, bool(first & 0x01), bool(first & 0x08))


def _varint_at(body: memoryview, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    for i in range(at, min(at + 4, len(body))):
        value |= (body[i] & 0x7F) << shift
        if not body[i] & 0x80:
            return value, i + 1
        shift += 7
    raise ProtocolError("bad variable byte integer")


def _properties(body: memoryview, at: int) -> tuple[dict[int, object], int]:
    """The properties starting at `at` (only the ones this codec reads) and the offset after."""
    length, at = _varint_at(body, at)
    end = at + length
    if end > len(body):
        raise ProtocolError("properties longer than the packet")
    out: dict[int, object] = {}
    while at < end:
        ident = body[at]
        at += 1
        if ident in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):  # byte
            out[ident] = body[at]
            at += 1
        elif ident in (0x13, 0x21, 0x22, 0x23):  # two-byte integer
            out[ident] = _U16.unpack_from(body, at)[0]
            at += 2
        elif ident in (0x02, 0x11, 0x18, 0x27):  # four-byte integer
            out[ident] = _U32.unpack_from(body, at)[0]
            at += 4
        elif ident == 0x0B:  # subscription identifier: varint
            out[ident], at = _varint_at(body, at)
        elif ident in (0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F):  # string / binary
            n = _U16.unpack_from(body, at)[0]
            out[ident] = bytes(body[at + 2:at + 2 + n]).decode("utf-8", "replace")
            at += 2 + n
        elif ident == 0x26:  # user property: string pair
            for _ in range(2):
                at += 2 + _U16.unpack_from(body, at)[0]
        else:
            raise ProtocolError(f"unknown property 0x{ident:02x}")
    if at != end:
        raise ProtocolError("properties overrun their length")
    return out, end
