"""Each defect the outside review of docs/serial_protocol.md found, tested twice: against the
virtual MCU on a pty by a host written from the document alone (tests/serial_doc_peer.py), and
on the project's host (HostProtocol, SerialLink) against the MCU or a version-2 MCU written from
the document. Byte vectors are the document's own (section 10)."""
from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterator

import pytest

from firmware_bridge.codec import encode_frame
from firmware_bridge.host import (
    CommandDone, CommandFailed, EventReceived, HostProtocol, LinkConfig, LinkState,
)
from firmware_bridge.mcu import CommandReceived, HeartbeatReceived, McuProtocol
from firmware_bridge.messages import (
    Ack, AckStatus, ClearFaults, Event, Fault, LightPattern, MsgType, Safe, SafeReason,
    SetAmplifier, SetLight, SetSearchlight,
)
from firmware_bridge.transport import SerialLink
from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModel
from robot_dog.payload.freshness import TelemetryAge
from tests import serial_doc_peer as doc
from tests.support import wait_for
from tests.test_firmware_codec import document_vectors

SEARCH = doc.SET_SEARCHLIGHT


@pytest.fixture
def doc_host(virtual_mcu: VirtualMcu) -> Iterator[doc.DocHost]:
    host = doc.DocHost(str(virtual_mcu.link))
    try:
        host.pump(0.15)
        assert host.hello()[1] == doc.OK
        yield host
    finally:
        host.close()


class Wire:
    """The project's host and MCU joined in memory; `drop_ack` loses chosen ACKs once."""

    def __init__(self, mcu: McuProtocol | None = None) -> None:
        self.now = 0.0
        self.host = HostProtocol(LinkConfig(), self.now, session_id=77)
        self.mcu = mcu or McuProtocol()
        self.model = McuModel(now=self.now)
        self.drop_ack: set[int] = set()
        self.events: list = []
        self.most_ahead = 0   # largest spread of command seqs in flight at once

    def run(self, seconds: float, step: float = 0.005) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + step, 6)
            self.host.handle_timer(self.now)
            self.exchange()

    def exchange(self) -> None:
        seqs = [s for s in self.host._in_flight if s]
        self.most_ahead = max(self.most_ahead, max(seqs) - min(seqs) if seqs else 0)
        self.mcu.receive_data(self.host.data_to_send())
        while (event := self.mcu.next_event()) is not None:
            if isinstance(event, HeartbeatReceived):
                self.model.heartbeat(self.now)
            elif isinstance(event, CommandReceived):
                self.mcu.send_ack(event.seq, self.model.apply(event.command, self.now))
                if event.seq in self.drop_ack:
                    self.drop_ack.discard(event.seq)
                    self.mcu.data_to_send()      # that ACK is lost on the line
        self.host.receive_data(self.mcu.data_to_send(), self.now)
        while (event := self.host.next_event()) is not None:
            self.events.append(event)


def test_the_document_vectors_frame_the_same_in_a_peer_written_from_the_document() -> None:
    for title, (raw_hex, wire_hex) in document_vectors().items():
        raw = bytes.fromhex(raw_hex)
        assert doc.crc16(raw[:-2]) == struct.unpack("<H", raw[-2:])[0], title
        assert doc.cobs_encode(raw) + b"\x00" == bytes.fromhex(wire_hex), title
        assert doc.parse(bytes.fromhex(wire_hex)[:-1])[3] == raw[4:-2], title


# ---- 1. an applied command is never reported as failed ------------------------------------

def test_mcu_a_resend_within_the_cache_depth_gets_its_first_answer(doc_host) -> None:
    doc_host.command(SEARCH, 1, 300, False, 5000)
    doc_host.wait_ack(1, SEARCH)                      # the host never saw this one: "lost"
    for seq in range(2, 1 + doc.DEDUP_DEPTH):         # 31 newer commands, the host's limit
        doc_host.command(SEARCH, seq, 400, False, 5000)
        assert doc_host.wait_ack(seq, SEARCH)[1] == doc.OK
    doc_host.command(SEARCH, 1, 300, False, 5000)     # the resend
    assert doc_host.wait_ack(1, SEARCH)[1] == doc.OK  # cached answer: applied, not STALE
    # the limit is real: one command more and the resend's answer is gone (why the host waits)
    doc_host.command(SEARCH, 1 + doc.DEDUP_DEPTH, 400, False, 5000)
    doc_host.wait_ack(1 + doc.DEDUP_DEPTH, SEARCH)
    doc_host.command(SEARCH, 1, 300, False, 5000)
    assert doc_host.wait_ack(1, SEARCH)[1] == doc.STALE


def test_host_a_lost_ack_and_43_newer_commands_still_report_the_first_as_applied() -> None:
    wire = Wire()
    wire.host.connection_made(wire.now)
    wire.run(0.05)
    assert wire.host.state is LinkState.UP
    wire.drop_ack = {1}
    tokens = [wire.host.send_command(SetSearchlight(100 + i, False, 5000), wire.now)
              for i in range(44)]
    wire.run(1.5)
    outcome = {e.token: e for e in wire.events if isinstance(e, (CommandDone, CommandFailed))}
    assert all(isinstance(outcome[t], CommandDone) for t in tokens), outcome
    assert outcome[tokens[0]].status == AckStatus.OK and outcome[tokens[0]].attempts == 2
    assert wire.most_ahead < doc.DEDUP_DEPTH


# ---- 2. a reboot is a reboot, not 65,000 lost frames ---------------------------------------

def test_mcu_a_reboot_shows_a_new_boot_id_and_restarts_its_numbers(doc_host, virtual_mcu) -> None:
    doc_host.pump(0.5)
    boot_id = doc_host.telemetry[-1][1]["boot_id"]
    doc_host.telemetry.clear()
    doc_host.events.clear()
    virtual_mcu.reboot()
    # Frames of the old boot may still be on their way (sent before the reset, read after it);
    # the new boot is told apart the way section 3 says a host does it: by its boot_id.

    def new_boot() -> list[tuple[int, dict]]:
        return [t for t in doc_host.telemetry if t[1]["boot_id"] != boot_id]

    wait_for(lambda: doc_host.pump(0.05) or new_boot(), "telemetry after the reboot")
    [(first_event_seq, (uptime_ms, _reasons, _faults, event_boot_id)), *_] = [
        e for e in doc_host.events if e[1][3] != boot_id]
    first_telemetry_seq, first_telemetry = new_boot()[0]
    assert first_event_seq == 1 and uptime_ms < 100          # the boot EVENT is frame 1
    assert first_telemetry_seq == 2
    assert first_telemetry["boot_id"] != 0
    assert event_boot_id == first_telemetry["boot_id"]
    assert first_telemetry["uptime_ms"] < 200
    doc_host.command(doc.SAFE, 9, True)                      # the session went with the reboot
    assert doc_host.wait_ack(9, doc.SAFE)[1:] == (doc.NO_SESSION, doc.SAFE, 0)


def test_host_a_reboot_counts_as_one_reboot_and_no_lost_frames(virtual_mcu: VirtualMcu) -> None:
    with SerialLink(str(virtual_mcu.link), LinkConfig()) as link:
        assert link.wait_up(10.0)
        wait_for(lambda: link.protocol.stats.telemetry >= 5, "telemetry")
        for _ in range(3):
            sessions = link.protocol.stats.sessions
            virtual_mcu.reboot()
            wait_for(lambda before=sessions: link.protocol.stats.sessions > before
                     and link.state is LinkState.UP, "a new session after the reboot")
        stats = link.protocol.stats
        assert stats.mcu_reboots == 3 and stats.telemetry_gaps < 10, stats
        assert link.command(Safe(True)) == AckStatus.OK


def test_host_a_version_2_reboot_is_seen_from_uptime_running_backwards() -> None:
    host = HostProtocol(LinkConfig(), 0.0, session_id=5)
    v2 = doc.DocMcuV2()
    v2.uptime_ms = 3_000_000
    for _ in range(3):
        v2.send_telemetry()
    v2.uptime_ms, v2.telemetry_seq = 0, 0                    # reboot
    v2.send_telemetry()
    host.receive_data(v2.take(), 1.0)
    events = []
    while (e := host.next_event()) is not None:
        events.append(e)
    assert [type(e).__name__ for e in events].count("McuRebooted") == 1
    assert host.stats.telemetry_gaps == 0 and host.stats.mcu_reboots == 1


# ---- 3. staleness has a defined clock, and a constant lag shows --------------------------

def test_mcu_echoes_the_newest_beat_so_a_lag_shows(doc_host, virtual_mcu) -> None:
    doc_host.pump(0.5)
    assert doc_host.telemetry_age_bound() < 0.5               # a healthy link
    virtual_mcu.faults.delay_s = 1.5
    doc_host.pump(3.0)
    assert doc_host.telemetry_age_bound() > 1.4


def test_host_a_lag_from_the_first_frame_is_stale(virtual_mcu: VirtualMcu) -> None:
    virtual_mcu.faults.delay_s = 1.5
    age = TelemetryAge()
    with SerialLink(str(virtual_mcu.link), LinkConfig(),
                    on_telemetry=lambda t: age.on_telemetry(
                        t.uptime_ms, time.monotonic(), link.telemetry_sampled_after())) as link:
        wait_for(lambda: link.protocol.stats.telemetry >= 10, "delayed telemetry")
        # A constant lag keeps the MCU's uptime steady against arrival, so the uptime rule
        # alone cannot see it (on an idle machine lateness stays near 0; a loaded one adds its
        # own scheduling delay, so that half is not asserted); the beat echo does see it.
        assert age.age(time.monotonic()) > 1.0


# ---- 4. refused MCU frames are counted and logged ------------------------------------------

def test_host_logs_refused_frames(caplog: pytest.LogCaptureFixture) -> None:
    host = HostProtocol(LinkConfig(), 0.0)
    longer = doc.frame(3, doc.TELEMETRY, 1, bytes(doc.TELEMETRY_V3.size + 4))
    with caplog.at_level(logging.WARNING, logger="firmware_bridge.codec"):
        host.receive_data(doc.frame(9, doc.ACK, 1, b"\x00") + longer, 0.0)
    assert host.stats.refused_frames == 2 and host.decoder.bad_total == 0
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2
    assert "bad_version, version 9" in caplog.records[0].getMessage()
    assert "bad_length, version 3 type 0x81" in caplog.records[1].getMessage()


# ---- 5 and 6. ACKs name what they answer ---------------------------------------------------

def test_mcu_answers_hello_with_its_seq_type_and_session(virtual_mcu: VirtualMcu) -> None:
    host = doc.DocHost(str(virtual_mcu.link), session_id=0xABCD)
    try:
        host.pump(0.15)
        assert host.hello(seq=7) == (7, doc.OK, doc.HELLO, 0xABCD)
    finally:
        host.close()


def test_mcu_a_seq_reused_by_another_type_is_not_a_duplicate(doc_host, virtual_mcu) -> None:
    doc_host.command(doc.CLEAR_FAULTS, 5, 0x0020)
    assert doc_host.wait_ack(5, doc.CLEAR_FAULTS) == (5, doc.OK, doc.CLEAR_FAULTS, 0x5EED)
    doc_host.command(doc.SAFE, 5, True)                       # same seq, another command
    assert doc_host.wait_ack(5, doc.SAFE) == (5, doc.OK, doc.SAFE, 0x5EED)
    assert "COMMANDED" in virtual_mcu.snapshot()["safe_reasons"]   # applied, not a cached OK


def test_host_ignores_an_ack_of_another_session_or_type() -> None:
    wire = Wire()
    wire.host.connection_made(wire.now)
    wire.run(0.05)
    token = wire.host.send_command(Safe(True), wire.now)
    seq = max(wire.host._in_flight)
    wire.host.data_to_send()                                  # the MCU never gets it
    wire.host.receive_data(encode_frame(Ack(AckStatus.OK, MsgType.SAFE, 999), seq)
                           + encode_frame(Ack(AckStatus.OK, MsgType.SET_LIGHT, 77), seq), wire.now)
    assert wire.host.next_event() is None and wire.host.stats.foreign_acks == 2
    wire.run(0.1)                                             # resent, answered for real
    assert any(isinstance(e, CommandDone) and e.token == token for e in wire.events)
    assert "COMMANDED" in [r.name for r in SafeReason if r & wire.model.safe_reasons]


# ---- the version transition ----------------------------------------------------------------

def test_host_speaks_version_2_to_a_version_2_mcu() -> None:
    host = HostProtocol(LinkConfig(), 0.0, session_id=5)
    v2 = doc.DocMcuV2()
    host.connection_made(0.0)
    v2.receive(host.data_to_send())
    host.receive_data(v2.take(), 0.01)                        # v2 ACK(BAD_VERSION) to the v3 HELLO
    v2.receive(host.data_to_send())                           # a version-2 HELLO
    host.receive_data(v2.take(), 0.02)
    assert host.state is LinkState.UP and host.version == 2
    host.send_command(SetLight(LightPattern.STEADY, 0, 1000), 0.03)
    v2.receive(host.data_to_send())
    v2.send_telemetry()
    host.receive_data(v2.take(), 0.04)
    events = []
    while (e := host.next_event()) is not None:
        events.append(e)
    assert [type(e).__name__ for e in events] == ["Connected", "CommandDone", "TelemetryReceived"]
    assert events[2].sampled_after is None                    # version 2: no echo
    assert [t for t, _seq, _body in v2.applied] == [doc.SET_LIGHT]


# ---- the e-stop button as an EVENT ---------------------------------------------------------

def test_mcu_pushes_a_button_press_as_an_event(doc_host, virtual_mcu) -> None:
    doc_host.pump(0.3)
    doc_host.events.clear()
    virtual_mcu.set_button(True)
    wait_for(lambda: doc_host.pump(0.01) or doc_host.events, "an EVENT")
    assert doc_host.events[0][1][1] & 0x04                    # BUTTON


def test_host_reports_events_and_numbers_them_with_telemetry() -> None:
    mcu = McuProtocol()
    host = HostProtocol(LinkConfig(), 0.0)
    model = McuModel(now=0.0)
    mcu.send_telemetry(model.telemetry(0.0))
    mcu.send_event(Event(5, SafeReason.BUTTON, Fault.NONE))
    mcu.send_telemetry(model.telemetry(0.1))
    host.receive_data(mcu.data_to_send(), 0.1)
    kinds = []
    while (e := host.next_event()) is not None:
        kinds.append(type(e))
    assert kinds[1] is EventReceived and host.stats.telemetry_gaps == 0


# ---- 7. what the document now answers ------------------------------------------------------

def test_the_safe_state_leaves_steady_light_at_rate_0_and_keeps_the_volume_cap() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    assert model.apply(SetLight(LightPattern.FLASH, 200, 10_000), 0.0) == AckStatus.OK
    assert model.apply(SetAmplifier(True, 60, 10_000), 0.0) == AckStatus.OK
    model.apply(Safe(True), 0.1)
    t = model.telemetry(0.2)
    assert (t.light_pattern, t.light_rate_chz) == (LightPattern.STEADY, 0)
    assert (t.amp_enabled, t.amp_volume_cap_pct) == (False, 60) and t.amp_remaining_ms > 0


def test_remaining_times_count_down_at_level_0_and_with_the_amplifier_off() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.apply(SetSearchlight(0, False, 5000), 0.0)
    model.apply(SetAmplifier(False, 0, 4000), 0.0)
    model.apply(SetLight(LightPattern.OFF, 0, 3000), 0.0)
    t = model.telemetry(1.0)
    assert (t.searchlight_remaining_ms, t.amp_remaining_ms, t.light_remaining_ms) == (4000, 3000, 0)


def test_clearing_heartbeat_lost_while_beats_are_missing_clears_the_bit_not_the_reason() -> None:
    model = McuModel(now=0.0)
    model.heartbeat(0.0)
    model.step(0.6)
    assert model.faults & Fault.HEARTBEAT_LOST
    model.apply(ClearFaults(int(Fault.HEARTBEAT_LOST)), 0.7)
    model.step(1.5)                                           # still no beats: not latched again
    assert not model.faults & Fault.HEARTBEAT_LOST
    assert model.safe_reasons & SafeReason.HEARTBEAT_LOST


def test_the_hello_is_resent_for_as_long_as_the_port_is_open() -> None:
    host = HostProtocol(LinkConfig(), 0.0)
    host.connection_made(0.0)
    sends = []
    for step in range(0, 3001):                               # 30 s, nobody answers
        now = step * 0.01
        host.handle_timer(now)
        blocks = [doc.parse(b) for b in host.data_to_send().split(b"\x00") if b]
        sends += [now for parsed in blocks if parsed and parsed[1] == doc.HELLO]
    gaps = [round(b - a, 2) for a, b in zip(sends, sends[1:])]
    assert gaps[:5] == [0.04] * 5 and sends[-1] > 29.5          # 6 quick sends, then slow
    assert all(abs(gap - 0.25) <= 0.011 for gap in gaps[5:])   # a 10 ms tick here


# ---- restarts agree: the e-stop goes first -------------------------------------------------

def test_host_sends_safe_ahead_of_queued_commands_after_a_reboot() -> None:
    wire = Wire()
    wire.host.connection_made(wire.now)
    wire.run(0.05)
    wire.mcu.send_telemetry(wire.model.telemetry(wire.now))
    wire.run(0.05)
    wire.mcu = McuProtocol()                        # the MCU rebooted: no session, new boot id
    wire.mcu.send_event(Event(0, SafeReason.HEARTBEAT_LOST, Fault.NONE))
    wire.host.receive_data(wire.mcu.data_to_send(), wire.now)
    for level in range(5):                          # queued while the new session starts
        wire.host.send_command(SetSearchlight(level, False, 5000), wire.now)
    wire.host.send_command(Safe(True), wire.now)
    sent: list[type] = []
    original = wire.mcu.receive_data

    def watch(data: bytes) -> None:
        original(data)
        sent.extend(type(e.command) for e in list(wire.mcu._events)
                    if isinstance(e, CommandReceived))
    wire.mcu.receive_data = watch
    wire.run(0.2)
    assert sent[0] is Safe and sent.count(SetSearchlight) == 5
    assert wire.host.stats.mcu_reboots == 1
