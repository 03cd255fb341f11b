"""Codec: byte vectors, round trips, resynchronisation and fuzzing of the decoder."""
from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import cobs
from firmware_bridge.codec import Frame, FrameDecoder, Rejected, crc16, encode_frame
from firmware_bridge.errors import LocalProtocolError, RemoteProtocolError
from firmware_bridge.host import HostProtocol
from firmware_bridge.mcu import McuProtocol
from firmware_bridge.messages import (
    PROTOCOL_VERSION, Ack, AckStatus, ClearFaults, Event, Fault, Heartbeat, Hello, LightPattern,
    MsgType, Safe, SafeReason, SetAmplifier, SetLight, SetSearchlight, Telemetry, encode_body,
)

# More byte vectors (section 10 of docs/serial_protocol.md has the session's).
FRAME_VECTORS = [
    (SetLight(LightPattern.ALTERNATE, 150, 60000), 1,
     "04 03 10 01 03 03 96 03 60 ea 01 03 a5 76 00"),
    (Heartbeat(7), 0, "03 03 02 01 02 07 03 e4 1d 00"),
    (Ack(AckStatus.OK, MsgType.SET_LIGHT, 1), 1, "04 03 80 01 01 03 10 01 01 01 03 79 da 00"),
]
TELEMETRY = Telemetry(
    uptime_ms=123456, battery_mv=24100, battery_ma=-250, charge_pm=873, battery_temp_dc=312,
    searchlight_temp_dc=655, amplifier_temp_dc=401, light_pattern=LightPattern.QUAD_FLASH,
    light_rate_chz=150, light_outputs=2, light_remaining_ms=5000, searchlight_level_pm=800,
    searchlight_strobe=True, searchlight_remaining_ms=9000, amp_enabled=True,
    amp_volume_cap_pct=70, amp_remaining_ms=1000, safe_reasons=SafeReason.COMMANDED,
    faults=Fault.BATTERY_LOW | Fault.RX_ERRORS, rx_bad_frames=65535,
)
ALL_MESSAGES = [
    Hello(0xDEADBEEF), Heartbeat(), SetLight(LightPattern.FLASH, 400, 1),
    SetSearchlight(1000, True, 30000), SetAmplifier(True, 100, 3_600_000), Safe(True),
    ClearFaults(0xFFFF), Ack(AckStatus.NO_SESSION), TELEMETRY,
]


def decode_all(data: bytes) -> tuple[FrameDecoder, list]:
    decoder = FrameDecoder()
    decoder.receive_data(data)
    events = []
    while (event := decoder.next_event()) is not None:
        events.append(event)
    return decoder, events


DOC = Path(__file__).resolve().parents[1] / "docs" / "serial_protocol.md"
S = 0x12345678
#: Section 10 of the document, entry by entry: the title line there, the message, seq, version.
DOC_VECTORS = [
    ("HELLO(session 0x12345678) seq 0", Hello(S), 0, 3),
    ("ACK(OK, HELLO, session 0x12345678) seq 0", Ack(AckStatus.OK, MsgType.HELLO, S), 0, 3),
    ("HEARTBEAT(beat 1) seq 0", Heartbeat(1), 0, 3),
    ("SET_LIGHT(ALTERNATE, 150 chz, 60000 ms) seq 1",
     SetLight(LightPattern.ALTERNATE, 150, 60000), 1, 3),
    ("ACK(OK, SET_LIGHT, session 0x12345678) seq 1",
     Ack(AckStatus.OK, MsgType.SET_LIGHT, S), 1, 3),
    ("SET_SEARCHLIGHT(750 pm, strobe, 60000 ms) seq 2", SetSearchlight(750, True, 60000), 2, 3),
    ("ACK(OUT_OF_RANGE, SET_SEARCHLIGHT, session 0x12345678) seq 2",
     Ack(AckStatus.OUT_OF_RANGE, MsgType.SET_SEARCHLIGHT, S), 2, 3),
    ("SAFE(engage) seq 3", Safe(True), 3, 3),
    ("ACK(OK, SAFE, session 0x12345678) seq 3", Ack(AckStatus.OK, MsgType.SAFE, S), 3, 3),
    ("EVENT(uptime 1000 ms, safe BUTTON, no faults, boot 0x0badcafe) seq 1",
     Event(1000, SafeReason.BUTTON, Fault.NONE, 0x0BADCAFE), 1, 3),
    ("HELLO(session 0x12345678) seq 0, version 2", Hello(S), 0, 2),
    ("ACK(BAD_VERSION) seq 0, version 2", Ack(AckStatus.BAD_VERSION), 0, 2),
]


def document_vectors() -> dict[str, tuple[str, str]]:
    """Section 10's entries as written: title -> (raw hex, wire hex)."""
    section = DOC.read_text().split("## 10. Byte vectors", 1)[1].split("\n## ", 1)[0]
    lines = [line.rstrip() for line in section.split("```")[1].splitlines() if line.strip()]
    return {title: (raw.split("raw ", 1)[1].strip(), wire.split("wire ", 1)[1].strip())
            for title, raw, wire in zip(lines[::3], lines[1::3], lines[2::3])}


def test_every_document_vector_is_checked_here() -> None:
    assert sorted(document_vectors()) == sorted(title for title, *_ in DOC_VECTORS)


@pytest.mark.parametrize("title, message, seq, version", DOC_VECTORS, ids=lambda v: str(v)[:40])
def test_protocol_document_vectors(title: str, message, seq: int, version: int) -> None:
    raw, wire = document_vectors()[title]
    assert encode_frame(message, seq, version).hex(" ") == wire
    assert cobs.decode(bytes.fromhex(wire)[:-1]).hex(" ") == raw
    decoder = FrameDecoder(versions=(3, 2))
    decoder.receive_data(bytes.fromhex(wire))
    assert decoder.next_event() == Frame(seq, message, version)


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("raw, stuffed", [
    (b"", b"\x01"), (b"\x00", b"\x01\x01"), (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
])
def test_cobs_vectors(raw: bytes, stuffed: bytes) -> None:
    assert cobs.encode(raw) == stuffed
    assert cobs.decode(stuffed) == raw


@given(st.binary(max_size=600))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert cobs.decode(encoded) == data


@pytest.mark.parametrize("message, seq, wire", FRAME_VECTORS)
def test_frame_vectors(message, seq: int, wire: str) -> None:
    assert encode_frame(message, seq).hex(" ") == wire
    _, events = decode_all(bytes.fromhex(wire))
    assert events == [Frame(seq, message)]


@pytest.mark.parametrize("message", ALL_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message) -> None:
    _, events = decode_all(encode_frame(message, 0xFFFF))
    assert events == [Frame(0xFFFF, message)]


def test_encoding_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(SetSearchlight(70000, False, 10), 1)
    with pytest.raises(LocalProtocolError):
        encode_frame(Heartbeat(), 0x10000)


def test_bad_cobs_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        cobs.decode(b"\x05\x01")


def test_frames_split_across_reads_and_idle_delimiters() -> None:
    stream = b"\x00\x00" + b"".join(encode_frame(m, i) for i, m in enumerate(ALL_MESSAGES))
    decoder = FrameDecoder()
    for i in range(0, len(stream), 3):
        decoder.receive_data(stream[i:i + 3])
    events = []
    while (event := decoder.next_event()) is not None:
        events.append(event)
    assert [e.message for e in events] == ALL_MESSAGES
    assert decoder.bad_total == 0


def test_bad_frame_counted_and_logged_once_then_resync(caplog: pytest.LogCaptureFixture) -> None:
    good = encode_frame(Safe(True), 9)
    corrupt = bytearray(good)
    corrupt[3] ^= 0x40
    caplog.set_level(logging.INFO, logger="firmware_bridge.codec")
    decoder, events = decode_all(b"\x13\x37garbage" + b"\x00" + bytes(corrupt) + good)
    assert events == [Frame(9, Safe(True))]
    assert decoder.bad_total == 2
    assert len([r for r in caplog.records if r.name == "firmware_bridge.codec"]) == 2


def test_over_long_frame_counts_once_and_resyncs() -> None:
    decoder = FrameDecoder()
    for _ in range(10):
        decoder.receive_data(b"\x01" * 100)  # 1000 bytes, never a delimiter
    decoder.receive_data(b"\x00" + encode_frame(Heartbeat(), 3))
    assert decoder.bad_frames == {"too_long": 1}
    assert decoder.next_event() == Frame(3, Heartbeat())


def test_valid_crc_with_unusable_content_is_rejected_with_reason() -> None:
    wrong_version = encode_frame(Safe(True), 5, version=1)
    decoder, events = decode_all(wrong_version)
    assert events == [Rejected(1, 0x13, 5, "bad_version")]
    raw = b"\x03\x77\x05\x00"
    decoder2, events = decode_all(cobs.encode(raw + crc16(raw).to_bytes(2, "little")) + b"\x00")
    assert events == [Rejected(3, 0x77, 5, "unknown_type")]
    # refusals are not framing errors: the line is fine, the peer speaks something else
    assert (decoder.bad_total, decoder.refused_total) == (0, 1)
    assert (decoder2.bad_total, decoder2.refused["unknown_type"]) == (0, 1)


def frame_with_body(msg_type: int, seq: int, body: bytes) -> bytes:
    raw = bytes([PROTOCOL_VERSION, msg_type]) + seq.to_bytes(2, "little") + body
    return cobs.encode(raw + crc16(raw).to_bytes(2, "little")) + b"\x00"


def test_unknown_enum_values_decode_fail_safe() -> None:
    """A newer MCU's pattern, ACK status or flag bits: decode what is known, keep the rest."""
    body = bytearray(encode_body(dataclasses.replace(TELEMETRY, safe_reasons=SafeReason(0x82))))
    body[16] = 9                                   # light_pattern 9: unknown here
    _, events = decode_all(frame_with_body(0x81, 4, bytes(body)))
    [frame] = events
    telemetry = frame.message
    assert telemetry.light_pattern == 9 and not isinstance(telemetry.light_pattern, LightPattern)
    assert telemetry.battery_mv == TELEMETRY.battery_mv          # the rest decoded
    assert int(telemetry.safe_reasons) == 0x82                   # unknown bit 0x80 kept
    _, events = decode_all(frame_with_body(0x80, 4, bytes([42, 0x13, 1, 0, 0, 0])))
    assert events == [Frame(4, Ack(42, 0x13, 1))]


# ---- fuzzing -------------------------------------------------------------------------------

def complete_segments(data: bytes) -> int:
    """Non-empty delimiter-terminated chunks: each must end as one good or one bad frame."""
    return sum(1 for chunk in data.split(b"\x00")[:-1] if chunk)


def check_stream(data: bytes) -> FrameDecoder:
    decoder = FrameDecoder()
    decoder.receive_data(data + b"\x00")
    while decoder.next_event() is not None:
        pass
    assert decoder.frames_ok + decoder.bad_total == complete_segments(data + b"\x00")
    # the stream resynchronises: a valid frame after the garbage always decodes
    decoder.receive_data(encode_frame(Heartbeat(), 42))
    tail = None
    while (event := decoder.next_event()) is not None:
        tail = event
    assert tail == Frame(42, Heartbeat())
    return decoder


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_stream(data)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:      # flip bits
            buf[pos % len(buf)] ^= 1 << rng.randrange(8)
        elif op == 1:            # insert random bytes (maybe delimiters)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 2 and buf:    # delete a run
            del buf[pos:pos + rng.randint(1, 8)]
        elif op == 3 and buf:    # duplicate a run
            buf[pos:pos] = buf[pos:pos + rng.randint(1, 30)]
        else:                    # truncate
            del buf[pos:]
    return bytes(buf)


def test_fuzz_mutated_valid_streams() -> None:
    """100k mutated streams of valid frames through the decoder and both protocol ends."""
    rng = random.Random(20240229)
    frames = [encode_frame(m, rng.randrange(0x10000)) for m in ALL_MESSAGES]
    host, mcu = HostProtocol(now=0.0), McuProtocol()
    for i in range(100_000):
        stream = b"".join(rng.choice(frames) for _ in range(rng.randint(1, 3)))
        mutated = mutate(rng, stream)
        if i % 10 == 0:
            check_stream(mutated)
        elif i % 2:
            mcu.receive_data(mutated + b"\x00")
            mcu.data_to_send()
            while mcu.next_event() is not None:
                pass
        else:
            host.receive_data(mutated + b"\x00", now=0.0)
            while host.next_event() is not None:
                pass
    # corruption was detected (not silently accepted) in both ends
    assert mcu.decoder.bad_total > 10_000 and host.decoder.bad_total > 10_000
    assert mcu.decoder.frames_ok > 0 and host.decoder.frames_ok > 0


def test_garbage_at_line_rate_logs_a_handful_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    """100,000 bad frames: the first few one line each, then a summary per power of ten."""
    decoder = FrameDecoder("host<-mcu")
    with caplog.at_level(logging.INFO, logger="firmware_bridge.codec"):
        decoder.receive_data(b"\x01\x02\x03\x00" * 100_000)   # short frames: all bad
    assert decoder.bad_total == 100_000
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 + 5                               # #1-3, then 10, 100, ..., 100000
    assert "bad frame #100000" in lines[-1] and "so far short 100000" in lines[-1]
