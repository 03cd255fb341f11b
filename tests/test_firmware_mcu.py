"""The MCU end of the protocol: one test per rule of docs/serial_protocol.md sections 3-7.

Sans-I/O tests of McuProtocol (+ McuModel where behaviour matters) on byte vectors, and two
on the virtual MCU over a real pty with pyserial (echoing line, refusals vs framing errors).
"""
from __future__ import annotations

import time

import serial

from firmware_bridge import cobs
from firmware_bridge.codec import FrameDecoder, crc16, encode_frame
from firmware_bridge.mcu import CommandReceived, HeartbeatReceived, McuProtocol
from firmware_bridge.messages import (
    PROTOCOL_VERSION, Ack, AckStatus, ClearFaults, Fault, Heartbeat, Hello, LightPattern, Safe,
    SafeReason, SetLight, SetSearchlight,
)
from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModel, McuModelConfig
from tests.support import wait_for


def frame(msg_type: int, seq: int, body: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    raw = bytes([version, msg_type]) + seq.to_bytes(2, "little") + body
    return cobs.encode(raw + crc16(raw).to_bytes(2, "little")) + b"\x00"


def answers(mcu: McuProtocol) -> list:
    decoder = FrameDecoder(versions=(3, 2))   # BAD_VERSION comes as a version-2 frame
    decoder.receive_data(mcu.data_to_send())
    out = []
    while (event := decoder.next_event()) is not None:
        out.append((event.seq, event.message.status) if isinstance(event.message, Ack)
                   else event)
    return out


def in_session(session_id: int = 7) -> McuProtocol:
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Hello(session_id), 0))
    assert answers(mcu) == [(0, AckStatus.OK)]
    return mcu


def apply_all(mcu: McuProtocol, model: McuModel, now: float = 0.0) -> None:
    while (event := mcu.next_event()) is not None:
        if isinstance(event, CommandReceived):
            mcu.send_ack(event.seq, model.apply(event.command, now))
        elif isinstance(event, HeartbeatReceived):
            model.heartbeat(now)


# ---- section 4: frames of MCU->host types are never answered ------------------------------

def test_mcu_never_answers_ack_or_telemetry_frames() -> None:
    mcu = in_session()
    model = McuModel(now=0.0)
    mcu.receive_data(encode_frame(Ack(AckStatus.OK), 3))
    mcu.receive_data(encode_frame(model.telemetry(0.0), 4))
    mcu.receive_data(frame(0x9F, 5, b"\x01\x02"))             # unknown type >= 0x80 as well
    assert answers(mcu) == [] and mcu.next_event() is None
    assert mcu.ignored == 3 and mcu.decoder.bad_total == 0


def test_echoing_line_gives_no_ack_storm(tmp_path) -> None:
    """TX wired back to RX: whatever the MCU sends comes back to it. It must stay quiet."""
    with VirtualMcu(tmp_path / "mcu", seed=1) as mcu, \
            serial.Serial(str(mcu.link), 115200, timeout=0.05) as port:
        port.write(encode_frame(Hello(42), 0))
        received = bytearray()
        end = time.monotonic() + 1.0
        while time.monotonic() < end:          # echo every byte for one second
            data = port.read(4096)
            received += data
            port.write(data)
        decoder = FrameDecoder()
        decoder.receive_data(bytes(received))
        kinds = []
        while (event := decoder.next_event()) is not None:
            kinds.append(type(event.message).__name__)
        assert kinds.count("Ack") == 1                          # the HELLO's, and no other
        assert 5 <= kinds.count("Telemetry") <= 15              # 10 Hz as usual
        assert mcu.snapshot()["ignored_frames"] >= 5


# ---- section 2/9: refusals are not bad frames ----------------------------------------------

def test_refusals_are_answered_but_do_not_count_as_bad_frames(tmp_path) -> None:
    with VirtualMcu(tmp_path / "mcu", seed=1) as mcu, \
            serial.Serial(str(mcu.link), 115200, timeout=0.05) as port:
        port.write(encode_frame(Hello(42), 0) + encode_frame(Heartbeat(), 0))
        port.write(frame(0x13, 1, b"\x01", version=1))          # BAD_VERSION
        port.write(frame(0x55, 2, b""))                          # UNKNOWN_TYPE
        port.write(frame(0x13, 3, b"\x01\x01"))                  # BAD_LENGTH
        snap = wait_for(lambda: (s := mcu.snapshot())["refused_frames"] == 3 and s,
                        "three refusals", 10.0)
        assert snap["rx_bad_frames"] == 0 and "RX_ERRORS" not in snap["faults"]
        port.write(b"\x05\x01\x02\x03\x04\x00")                 # CRC error: a bad frame
        snap = wait_for(lambda: (s := mcu.snapshot())["rx_bad_frames"] == 1 and s,
                        "one bad frame", 10.0)
        assert "RX_ERRORS" in snap["faults"]


# ---- section 5/6: order of checks ----------------------------------------------------------

def test_frame_checks_come_before_the_session_check() -> None:
    mcu = McuProtocol()                                          # no HELLO yet
    mcu.receive_data(frame(0x13, 1, b"\x01", version=1))
    mcu.receive_data(frame(0x55, 2, b""))
    mcu.receive_data(frame(0x13, 3, b"\x01\x01"))
    mcu.receive_data(encode_frame(Safe(True), 4))
    assert answers(mcu) == [(1, AckStatus.BAD_VERSION), (2, AckStatus.UNKNOWN_TYPE),
                            (3, AckStatus.BAD_LENGTH), (4, AckStatus.NO_SESSION)]


def test_no_session_neither_caches_nor_moves_the_seq() -> None:
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Safe(True), 5))
    assert answers(mcu) == [(5, AckStatus.NO_SESSION)]
    mcu.receive_data(encode_frame(Hello(7), 0))
    answers(mcu)
    mcu.receive_data(encode_frame(Safe(True), 5))                # same seq, now in a session
    assert mcu.next_event() == CommandReceived(5, Safe(True))


def test_refused_commands_are_cached_and_move_the_stale_seq() -> None:
    mcu, model = in_session(), McuModel(now=0.0)
    model.heartbeat(0.0)
    bad = SetLight(LightPattern.FLASH, 900, 1000)                # 9 Hz: OUT_OF_RANGE
    mcu.receive_data(encode_frame(bad, 10))
    apply_all(mcu, model)
    assert answers(mcu) == [(10, AckStatus.OUT_OF_RANGE)]
    mcu.receive_data(encode_frame(bad, 10))                      # resend: same answer, not re-run
    assert mcu.next_event() is None and answers(mcu) == [(10, AckStatus.OUT_OF_RANGE)]
    mcu.receive_data(encode_frame(SetLight(LightPattern.STEADY, 0, 1000), 9))
    assert mcu.next_event() is None and answers(mcu) == [(9, AckStatus.STALE)]


def test_out_of_range_is_checked_before_the_safe_state() -> None:
    model = McuModel(now=0.0)                                    # powered up: safe
    assert model.apply(SetLight(LightPattern.FLASH, 900, 1000), 0.0) is AckStatus.OUT_OF_RANGE
    assert model.apply(SetLight(LightPattern.FLASH, 200, 1000), 0.0) is AckStatus.SAFE_STATE


def test_stale_is_per_type_and_by_plain_comparison() -> None:
    mcu = in_session()
    for seq, command in ((100, Safe(True)), (101, SetSearchlight(1, False, 10))):
        mcu.receive_data(encode_frame(command, seq))
        mcu.send_ack(mcu.next_event().seq, AckStatus.OK)
    answers(mcu)
    mcu.receive_data(encode_frame(Safe(True), 100))    # a resend of the cached SAFE: cached OK
    assert answers(mcu) == [(100, AckStatus.OK)] and mcu.next_event() is None
    mcu.receive_data(encode_frame(Safe(False), 100))   # same seq, other body: not a resend
    assert answers(mcu) == [(100, AckStatus.STALE)] and mcu.next_event() is None
    mcu.receive_data(encode_frame(SetLight(LightPattern.OFF, 0, 10), 50))  # other type: new
    assert mcu.next_event() == CommandReceived(50, SetLight(LightPattern.OFF, 0, 10))
    mcu.receive_data(encode_frame(Safe(False), 0))     # seq 0 is never a command's
    assert answers(mcu) == [(0, AckStatus.STALE)]


# ---- section 5: HELLO ----------------------------------------------------------------------

def test_hello_with_session_zero_is_refused_and_opens_nothing() -> None:
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Hello(0), 0))
    assert answers(mcu) == [(0, AckStatus.OUT_OF_RANGE)]
    mcu.receive_data(encode_frame(Safe(True), 1))
    assert answers(mcu) == [(1, AckStatus.NO_SESSION)]


def test_same_session_keeps_the_cache_new_session_clears_it() -> None:
    mcu = in_session(7)
    mcu.receive_data(encode_frame(Safe(True), 9))
    mcu.send_ack(mcu.next_event().seq, AckStatus.OK)
    answers(mcu)
    mcu.receive_data(encode_frame(Hello(7), 0))
    mcu.receive_data(encode_frame(Safe(True), 9))
    assert answers(mcu) == [(0, AckStatus.OK), (9, AckStatus.OK)] and mcu.next_event() is None
    mcu.receive_data(encode_frame(Hello(8), 0))
    answers(mcu)
    mcu.receive_data(encode_frame(Safe(True), 9))
    assert mcu.next_event() == CommandReceived(9, Safe(True))
    assert mcu.sessions == 2


# ---- section 7: heartbeat ------------------------------------------------------------------

def test_heartbeats_before_hello_feed_the_watchdog() -> None:
    mcu, model = McuProtocol(), McuModel(now=0.0)
    mcu.receive_data(encode_frame(Heartbeat(), 0))
    apply_all(mcu, model, now=0.1)
    assert not model.safe and answers(mcu) == []


def test_heartbeat_with_a_body_is_refused_and_does_not_feed_the_watchdog() -> None:
    mcu, model = McuProtocol(), McuModel(now=0.0)
    mcu.receive_data(frame(0x02, 0, b"\x01"))
    apply_all(mcu, model, now=0.1)
    assert model.safe and answers(mcu) == [(0, AckStatus.BAD_LENGTH)]


def test_heartbeat_lost_is_not_latched_at_power_up_only_after_a_loss() -> None:
    model = McuModel(now=0.0)
    assert model.safe_reasons == SafeReason.HEARTBEAT_LOST and model.faults == Fault.NONE
    model.heartbeat(0.1)
    model.step(0.6)                                              # 500 ms without a heartbeat
    assert Fault.HEARTBEAT_LOST in model.faults


def test_button_makes_the_payload_safe_on_the_mcus_own_authority() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    assert model.apply(SetLight(LightPattern.ALTERNATE, 150, 60_000), 0.0) is AckStatus.OK
    assert model.apply(SetSearchlight(800, True, 5_000), 0.0) is AckStatus.OK
    model.set_button(True, 0.05)
    assert model.safe_reasons == SafeReason.BUTTON                 # heartbeats still flowing
    s = model.state
    assert (s.light_pattern, s.searchlight_strobe, s.amp_enabled) == (LightPattern.STEADY, False, False)
    assert model.apply(SetLight(LightPattern.FLASH, 200, 1_000), 0.1) is AckStatus.SAFE_STATE
    assert model.telemetry(0.1).safe_reasons == SafeReason.BUTTON
    model.heartbeat(0.2)
    model.set_button(False, 0.2)                                   # pulled out: reason clears,
    assert not model.safe and s.light_pattern is LightPattern.STEADY   # nothing is restored
    model.apply(Safe(True), 0.3)
    model.set_button(True, 0.3)
    model.set_button(False, 0.4)
    assert model.safe_reasons == SafeReason.COMMANDED              # the host's e-stop stays


def test_watchdog_trips_at_500_ms_not_on_the_next_100_ms_step() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.step(0.499)
    assert not model.safe
    model.step(0.5)
    assert model.safe


# ---- section 4: fields -----------------------------------------------------------------------

def test_off_light_reports_no_remaining_time() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    assert model.apply(SetLight(LightPattern.OFF, 0, 60_000), 0.0) is AckStatus.OK
    assert model.telemetry(1.0).light_remaining_ms == 0
    model.apply(SetLight(LightPattern.STEADY, 0, 60_000), 1.0)
    assert model.telemetry(2.0).light_remaining_ms == 59_000


def test_clear_faults_ignores_unknown_and_live_bits() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.step(1.0)
    model.note_rx_error()
    assert model.apply(ClearFaults(0xFFC0 | Fault.RX_ERRORS), 1.0) is AckStatus.OK
    assert Fault.RX_ERRORS not in model.faults and Fault.HEARTBEAT_LOST in model.faults


def test_searchlight_command_during_overtemperature_is_kept_and_driven_after_cooling() -> None:
    model = McuModel(McuModelConfig(time_scale=1.0), now=0.0)
    model.heartbeat(0.0)
    model.state.searchlight_temp_c = 96.0
    model.step(0.0)
    assert model.apply(SetSearchlight(500, False, 600_000), 0.0) is AckStatus.OK
    assert model.searchlight_output == 0.0 and model.telemetry(0.0).searchlight_level_pm == 0
    assert Fault.SEARCHLIGHT_OVERTEMP in model.faults
    model.state.searchlight_temp_c = 84.0                        # cooled below 85 degC
    model.heartbeat(0.1)
    assert model.searchlight_output == 0.5


def test_quad_flash_timing_four_flashes_per_half_cycle() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.apply(SetLight(LightPattern.QUAD_FLASH, 100, 10_000), 0.0)   # 1 Hz: 1 s cycle
    slot = 1 / 16
    red = [model.light_outputs((i + 0.5) * slot)[0] for i in range(16)]
    blue = [model.light_outputs((i + 0.5) * slot)[1] for i in range(16)]
    assert red == [True, False] * 4 + [False] * 8
    assert blue == [False] * 8 + [True, False] * 4
