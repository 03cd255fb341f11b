"""A host and a version-2 MCU written from docs/serial_protocol.md alone (no firmware_bridge
import): the outsider's check that the document says enough. Frames by sections 2 and 4, rules
by sections 3, 5, 6 and 8. Used by tests/test_firmware_protocol_document.py against the virtual
MCU and the project's host."""
from __future__ import annotations

import os
import select
import struct
import time

# ---- section 2: framing --------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """The reference C of section 2, line by line."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(raw: bytes) -> bytes:
    out = bytearray()
    for piece in raw.split(b"\x00"):      # frames are < 254 bytes: no 0xFF blocks
        out += bytes([len(piece) + 1]) + piece
    return bytes(out)


def cobs_decode(block: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(block):
        code = block[i]
        out += block[i + 1:i + code]
        i += code
        if i < len(block):
            out.append(0)
    return bytes(out)


def frame(version: int, msg_type: int, seq: int, body: bytes) -> bytes:
    raw = struct.pack("<BBH", version, msg_type, seq) + body
    return cobs_encode(raw + struct.pack("<H", crc16(raw))) + b"\x00"


def parse(wire_block: bytes) -> tuple[int, int, int, bytes] | None:
    """(version, type, seq, body) of one block without its delimiter; None for a bad frame."""
    raw = cobs_decode(wire_block)
    if len(raw) < 6 or crc16(raw[:-2]) != struct.unpack("<H", raw[-2:])[0]:
        return None
    version, msg_type, seq = struct.unpack("<BBH", raw[:4])
    return version, msg_type, seq, raw[4:-2]


# ---- section 4: messages (version 3 unless said) -------------------------------------------

HELLO, HEARTBEAT, SET_LIGHT, SET_SEARCHLIGHT, SET_AMPLIFIER, SAFE, CLEAR_FAULTS = (
    0x01, 0x02, 0x10, 0x11, 0x12, 0x13, 0x14)
ACK, TELEMETRY, EVENT = 0x80, 0x81, 0x82
OK, STALE, UNKNOWN_TYPE, BAD_LENGTH, OUT_OF_RANGE, SAFE_STATE, BAD_VERSION, NO_SESSION = range(8)
ACK_V3 = struct.Struct("<BBI")                       # status, type, session_id
TELEMETRY_V2 = struct.Struct("<IHhHhhhBHBIH?I?BIBHH")
TELEMETRY_V3 = struct.Struct(TELEMETRY_V2.format + "IH")   # + boot_id, beat_echo
EVENT_V3 = struct.Struct("<IBHI")                    # uptime_ms, safe_reasons, faults, boot_id
TELEMETRY_FIELDS = ("uptime_ms battery_mv battery_ma charge_pm battery_temp_dc "
                    "searchlight_temp_dc amplifier_temp_dc light_pattern light_rate_chz "
                    "light_outputs light_remaining_ms searchlight_level_pm searchlight_strobe "
                    "searchlight_remaining_ms amp_enabled amp_volume_cap_pct amp_remaining_ms "
                    "safe_reasons faults rx_bad_frames boot_id beat_echo").split()
BODIES = {
    SET_LIGHT: struct.Struct("<BHI"), SET_SEARCHLIGHT: struct.Struct("<H?I"),
    SET_AMPLIFIER: struct.Struct("<?BI"), SAFE: struct.Struct("<?"),
    CLEAR_FAULTS: struct.Struct("<H"),
}
DEDUP_DEPTH = 32                                     # section 6


class DocHost:
    """A version-3 host on a pty, by the document's rules; a blocking toy, fine for tests."""

    def __init__(self, path: str, session_id: int = 0x5EED) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.session_id = session_id
        self.buffer = bytearray()
        self.acks: list[tuple[int, int, int, int]] = []     # (seq, status, type, session)
        self.telemetry: list[tuple[int, dict]] = []         # (seq, fields)
        self.events: list[tuple[int, tuple[int, int, int]]] = []
        self.other: list[tuple[int, int, int, bytes]] = []  # frames of other versions
        self.beats_sent: dict[int, float] = {}
        self.beat = 0
        self.write(b"\x00")

    def close(self) -> None:
        os.close(self.fd)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def send(self, msg_type: int, seq: int, body: bytes = b"", version: int = 3) -> None:
        self.write(frame(version, msg_type, seq, body))

    def heartbeat(self) -> None:
        self.beat = self.beat % 0xFFFF + 1
        self.beats_sent[self.beat] = time.monotonic()
        self.send(HEARTBEAT, 0, struct.pack("<H", self.beat))

    def command(self, msg_type: int, seq: int, *fields: object) -> None:
        self.send(msg_type, seq, BODIES[msg_type].pack(*fields))

    def pump(self, seconds: float) -> None:
        """Read for `seconds`, heartbeating every 100 ms (section 7), sorting frames."""
        end = time.monotonic() + seconds
        next_beat = time.monotonic()
        while (now := time.monotonic()) < end:
            if now >= next_beat:
                self.heartbeat()
                next_beat = now + 0.1
            ready, _, _ = select.select([self.fd], [], [], min(0.01, end - now))
            if ready:
                try:
                    self.buffer += os.read(self.fd, 4096)
                except BlockingIOError:
                    pass
            while b"\x00" in self.buffer:
                block, _, rest = bytes(self.buffer).partition(b"\x00")
                self.buffer = bytearray(rest)
                if block:
                    self._sort(parse(block))

    def _sort(self, parsed: tuple[int, int, int, bytes] | None) -> None:
        if parsed is None:
            return
        version, msg_type, seq, body = parsed
        if version != 3:
            self.other.append(parsed)
        elif msg_type == ACK and len(body) == ACK_V3.size:
            self.acks.append((seq, *ACK_V3.unpack(body)))
        elif msg_type == TELEMETRY and len(body) == TELEMETRY_V3.size:
            self.telemetry.append((seq, dict(zip(TELEMETRY_FIELDS, TELEMETRY_V3.unpack(body)))))
        elif msg_type == EVENT and len(body) == EVENT_V3.size:
            self.events.append((seq, EVENT_V3.unpack(body)))
        else:
            self.other.append(parsed)

    def wait_ack(self, seq: int, msg_type: int, timeout: float = 5.0) -> tuple[int, int, int, int]:
        """The ACK answering (seq, type) in this session, by section 6's matching rule."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for ack in self.acks:
                if ack[0] == seq and ack[2] == msg_type:
                    self.acks.remove(ack)
                    return ack
            self.pump(0.02)
        raise AssertionError(f"no ACK for type 0x{msg_type:02x} seq {seq}")

    def hello(self, seq: int = 0) -> tuple[int, int, int, int]:
        self.send(HELLO, seq, struct.pack("<I", self.session_id))
        return self.wait_ack(seq, HELLO)

    def telemetry_age_bound(self) -> float:
        """Section 8: now minus the send time of the beat the newest telemetry echoes."""
        _seq, fields = self.telemetry[-1]
        return time.monotonic() - self.beats_sent[fields["beat_echo"]]


class DocMcuV2:
    """A version-2 MCU reduced to what a host's transition needs (sections 2, 4, 5 of version 2):
    refuses other versions with a version-2 ACK(BAD_VERSION), takes HELLO and applies every
    command with OK, sends 42-byte telemetry. Sans-I/O: bytes in, bytes out."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.out = bytearray()
        self.session: int | None = None
        self.applied: list[tuple[int, int, bytes]] = []
        self.telemetry_seq = 0
        self.uptime_ms = 0

    def receive(self, data: bytes) -> None:
        self.buffer += data
        while b"\x00" in self.buffer:
            block, _, rest = bytes(self.buffer).partition(b"\x00")
            self.buffer = bytearray(rest)
            parsed = parse(block) if block else None
            if parsed is None:
                continue
            version, msg_type, seq, body = parsed
            if msg_type >= 0x80:
                continue
            if version != 2:
                self._ack(seq, BAD_VERSION)
            elif msg_type == HEARTBEAT:
                continue
            elif msg_type == HELLO:
                self.session = struct.unpack("<I", body)[0]
                self._ack(seq, OK)
            elif self.session is None:
                self._ack(seq, NO_SESSION)
            else:
                self.applied.append((msg_type, seq, body))
                self._ack(seq, OK)

    def send_telemetry(self, safe_reasons: int = 0) -> None:
        self.telemetry_seq = (self.telemetry_seq + 1) & 0xFFFF
        self.uptime_ms += 100
        fields = [self.uptime_ms, 24000, 800, 900, 250, 250, 250, 0, 0, 0, 0, 0, False, 0, False,
                  0, 0, safe_reasons, 0, 0]
        self.out += frame(2, TELEMETRY, self.telemetry_seq, TELEMETRY_V2.pack(*fields))

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data

    def _ack(self, seq: int, status: int) -> None:
        self.out += frame(2, ACK, seq, bytes([status]))
