"""Codec: byte vectors, round trips, resynchronisation and fuzzing of the decoder."""
from __future__ import annotations

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
    Ack, AckStatus, ClearFaults, Fault, Heartbeat, Hello, LightPattern, Safe, SafeReason,
    SetAmplifier, SetLight, SetSearchlight, Telemetry,
)

# Shared byte vectors; docs/serial_protocol.md quotes the same frames.
FRAME_VECTORS = [
    (SetLight(LightPattern.ALTERNATE, 150, 60000), 1,
     "04 01 10 01 03 03 96 03 60 ea 01 03 16 d6 00"),
    (Heartbeat(), 7, "04 01 02 07 03 83 05 00"),
    (Ack(AckStatus.OK), 1, "04 01 80 01 01 03 55 51 00"),
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
DOC_VECTORS = [
    (Hello(0x12345678), 0x0100, "03 01 01 08 01 78 56 34 12 27 b4 00"),
    (Heartbeat(), 0x0101, "07 01 02 01 01 04 bf 00"),
    (SetLight(LightPattern.ALTERNATE, 150, 60000), 0x0102,
     "07 01 10 02 01 03 96 03 60 ea 01 03 81 bc 00"),
    (Ack(AckStatus.OK), 0x0102, "05 01 80 02 01 03 34 3b 00"),
    (SetSearchlight(750, False, 30000), 0x0103, "07 01 11 03 01 ee 02 03 30 75 01 03 38 23 00"),
    (Ack(AckStatus.OUT_OF_RANGE), 0x0103, "08 01 80 03 01 04 80 4c 00"),
    (Safe(True), 0x0104, "08 01 13 04 01 01 f6 c4 00"),
]


@pytest.mark.parametrize("message, seq, wire", DOC_VECTORS)
def test_protocol_document_vectors(message, seq: int, wire: str) -> None:
    assert encode_frame(message, seq).hex(" ") == wire
    assert f"wire {wire}" in DOC.read_text()
    _, events = decode_all(bytes.fromhex(wire))
    assert events == [Frame(seq, message)]


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
    wrong_version = encode_frame(Safe(True), 5, version=2)
    _, events = decode_all(wrong_version)
    assert events == [Rejected(2, 0x13, 5, "bad_version")]
    raw = b"\x01\x77\x05\x00"
    _, events = decode_all(cobs.encode(raw + crc16(raw).to_bytes(2, "little")) + b"\x00")
    assert events == [Rejected(1, 0x77, 5, "unknown_type")]


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
