"""Host protocol against the real MCU protocol and model, in memory, on a fake clock."""
from __future__ import annotations

import pytest

from firmware_bridge.codec import encode_frame
from firmware_bridge.errors import CommandRefused, CommandTimeout, LocalProtocolError
from firmware_bridge.host import (
    CommandDone, CommandFailed, Connected, HostProtocol, LinkConfig, LinkState, TelemetryReceived,
)
from firmware_bridge.mcu import CommandReceived, HeartbeatReceived, McuProtocol
from firmware_bridge.messages import (
    MsgType,
    Ack, AckStatus, Heartbeat, Hello, LightPattern, Safe, SetLight, SetSearchlight, Telemetry,
)
from firmware_bridge.timers import Deadline, Periodic, Watchdog
from firmware_bridge.virtual_mcu.faults import FaultyLine, LineFaults
from firmware_bridge.virtual_mcu.model import McuModel

CONFIG = LinkConfig(ack_timeout_s=0.05, max_attempts=5, command_deadline_s=1.0, window=4,
                    heartbeat_period_s=0.1)


class Bench:
    """Host and MCU joined by two in-memory lines (with optional faults); time is `now`."""

    def __init__(self, faults: LineFaults | None = None, seed: int = 7) -> None:
        self.now = 0.0
        self.host = HostProtocol(CONFIG, self.now, session_id=1234)
        self.mcu = McuProtocol()
        self.model = McuModel(now=self.now)
        self.faults = faults or LineFaults()
        self.up = FaultyLine(self.faults, seed)
        self.down = FaultyLine(self.faults, seed + 1)
        self.events: list = []
        self.mcu_online = True

    def connect(self) -> None:
        self.host.connection_made(self.now)
        self.exchange()

    def exchange(self) -> None:
        for _ in range(10):
            data = self.up.feed(self.host.data_to_send())
            if not data:
                break
            if not self.mcu_online:
                continue
            self.mcu.receive_data(data)
            while (event := self.mcu.next_event()) is not None:
                if isinstance(event, HeartbeatReceived):
                    self.model.heartbeat(self.now)
                elif isinstance(event, CommandReceived):
                    self.mcu.send_ack(event.seq, self.model.apply(event.command, self.now))
            self.host.receive_data(self.down.feed(self.mcu.data_to_send()), self.now)
        while (event := self.host.next_event()) is not None:
            self.events.append(event)

    def advance(self, seconds: float, step: float = 0.01) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = round(self.now + step, 6)
            self.host.handle_timer(self.now)
            self.exchange()

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def test_handshake_then_command_acknowledged() -> None:
    bench = Bench()
    token = bench.host.send_command(SetLight(LightPattern.FLASH, 200, 5000), bench.now)
    bench.exchange()
    assert bench.of(CommandDone) == []          # nothing goes out before the handshake
    bench.connect()
    assert bench.host.state is LinkState.UP
    assert bench.of(Connected) == [Connected(1234)]
    [done] = bench.of(CommandDone)
    assert (done.token, done.status, done.attempts) == (token, AckStatus.OK, 1)
    assert bench.model.state.light_pattern is LightPattern.FLASH


def test_refusal_carries_the_mcu_status() -> None:
    bench = Bench()
    bench.connect()
    bench.host.send_command(SetLight(LightPattern.ALTERNATE, 350, 5000), bench.now)
    bench.exchange()
    [failed] = bench.of(CommandFailed)
    assert isinstance(failed.error, CommandRefused)
    assert failed.error.status is AckStatus.OUT_OF_RANGE


def test_lost_frame_is_retried_after_ack_timeout() -> None:
    bench = Bench()
    bench.connect()
    bench.faults.drop_rate = 1.0
    bench.host.send_command(Safe(True), bench.now)
    bench.exchange()
    bench.advance(0.04)
    assert bench.of(CommandDone) == []
    bench.faults.drop_rate = 0.0
    bench.advance(0.02)                        # the resend at 50 ms gets through
    [done] = bench.of(CommandDone)
    assert done.attempts == 2
    assert bench.model.state.safe_commanded


def test_command_times_out_after_max_attempts() -> None:
    bench = Bench()
    bench.connect()
    bench.mcu_online = False
    bench.host.send_command(Safe(True), bench.now)
    bench.advance(0.5)
    [failed] = bench.of(CommandFailed)
    assert isinstance(failed.error, CommandTimeout)
    assert failed.error.attempts == CONFIG.max_attempts


def test_queued_command_lapses_at_its_deadline_when_link_never_comes_up() -> None:
    bench = Bench()
    bench.host.send_command(Safe(True), bench.now, deadline_s=0.3)
    bench.advance(0.29)
    assert bench.of(CommandFailed) == []
    bench.advance(0.02)
    assert isinstance(bench.of(CommandFailed)[0].error, CommandTimeout)


def test_lost_ack_resend_is_not_applied_twice_and_gets_same_answer() -> None:
    bench = Bench()
    bench.connect()
    bench.host.send_command(SetSearchlight(300, False, 5000), bench.now)
    wire = bench.host.data_to_send()
    bench.mcu.receive_data(wire)
    event = bench.mcu.next_event()
    bench.mcu.send_ack(event.seq, bench.model.apply(event.command, bench.now))
    bench.mcu.data_to_send()                   # this ack is lost
    bench.mcu.receive_data(wire)               # the host's resend
    assert bench.mcu.next_event() is None      # not delivered again
    assert bench.mcu.duplicates == 1
    bench.host.receive_data(bench.mcu.data_to_send(), bench.now)
    assert bench.host.next_event().status is AckStatus.OK


def test_window_limits_commands_in_flight() -> None:
    bench = Bench()
    bench.connect()
    bench.mcu_online = False
    for _ in range(10):
        bench.host.send_command(Safe(False), bench.now)
    assert bench.host.in_flight == CONFIG.window
    assert bench.host.queued == 10 - CONFIG.window
    bench.mcu_online = True
    bench.advance(0.2)
    assert len(bench.of(CommandDone)) == 10


def test_heartbeat_every_period_keeps_mcu_out_of_safe_state() -> None:
    bench = Bench()
    bench.connect()
    sent_before = bench.host.stats.sent_frames
    bench.advance(1.0)
    assert 9 <= bench.host.stats.sent_frames - sent_before <= 11
    assert not bench.model.safe
    bench.host.connection_lost()               # host gone: no more heartbeats
    bench.now += 0.6
    bench.model.step(bench.now)
    assert bench.model.safe and bench.model.safe_reasons.name == "HEARTBEAT_LOST"


def test_mcu_reboot_triggers_new_handshake_and_resend() -> None:
    bench = Bench()
    bench.connect()
    bench.mcu = McuProtocol()                  # rebooted: no session
    bench.model = McuModel(now=bench.now)
    bench.host.send_command(SetLight(LightPattern.STEADY, 0, 5000), bench.now)
    bench.advance(0.1)
    [done] = bench.of(CommandDone)
    assert done.status is AckStatus.OK
    assert len(bench.of(Connected)) == 2
    assert bench.model.state.light_pattern is LightPattern.STEADY


def test_connection_lost_requeues_in_flight_commands() -> None:
    bench = Bench()
    bench.connect()
    bench.mcu_online = False
    bench.host.send_command(Safe(True), bench.now)
    bench.host.connection_lost()
    assert (bench.host.in_flight, bench.host.queued) == (0, 1)
    bench.mcu_online = True
    bench.connect()
    bench.advance(0.05)
    assert [d.command for d in bench.of(CommandDone)] == [Safe(True)]


def test_late_retry_of_older_command_is_answered_stale_and_not_applied() -> None:
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Hello(9), 0))
    mcu.data_to_send()
    mcu.receive_data(encode_frame(SetSearchlight(900, False, 1000), 0xFFF0))
    mcu.send_ack(mcu.next_event().seq, AckStatus.OK)
    mcu.data_to_send()
    mcu.receive_data(encode_frame(SetSearchlight(100, False, 1000), 0xFFEF))  # older, late
    assert mcu.next_event() is None
    assert mcu.data_to_send() == encode_frame(Ack(AckStatus.STALE, MsgType.SET_SEARCHLIGHT, 9), 0xFFEF)
    # version 2: no wrap within a session, so a small number after a big one is old, not new
    mcu.receive_data(encode_frame(SetSearchlight(100, False, 1000), 3))
    assert mcu.next_event() is None
    assert mcu.data_to_send() == encode_frame(Ack(AckStatus.STALE, MsgType.SET_SEARCHLIGHT, 9), 3)
    mcu.receive_data(encode_frame(Hello(10), 0))          # a new session starts from scratch
    mcu.data_to_send()
    mcu.receive_data(encode_frame(SetSearchlight(100, False, 1000), 3))
    assert mcu.next_event() == CommandReceived(3, SetSearchlight(100, False, 1000))


def test_command_before_hello_is_answered_no_session() -> None:
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Safe(True), 5))
    assert mcu.next_event() is None
    assert mcu.data_to_send() == encode_frame(Ack(AckStatus.NO_SESSION, MsgType.SAFE, 0), 5)


def test_telemetry_events_and_gap_count() -> None:
    bench = Bench()
    bench.connect()
    for _ in range(3):
        bench.mcu.send_telemetry(bench.model.telemetry(bench.now))
    bench.mcu.data_to_send()                   # three frames lost
    bench.mcu.send_telemetry(bench.model.telemetry(bench.now))
    bench.mcu.send_telemetry(bench.model.telemetry(bench.now))
    bench.host.receive_data(bench.mcu.data_to_send(), bench.now)
    events = []
    while (e := bench.host.next_event()) is not None:
        events.append(e)
    assert [type(e.telemetry) for e in events] == [Telemetry, Telemetry]
    assert isinstance(events[0], TelemetryReceived)
    assert bench.host.stats.telemetry_gaps == 0  # first seen frame sets the reference
    bench.mcu.send_telemetry(bench.model.telemetry(bench.now))
    bench.mcu.data_to_send()
    bench.mcu.send_telemetry(bench.model.telemetry(bench.now))
    bench.host.receive_data(bench.mcu.data_to_send(), bench.now)
    assert bench.host.stats.telemetry_gaps == 1


def test_heartbeat_is_not_a_command() -> None:
    with pytest.raises(LocalProtocolError):
        HostProtocol().send_command(Heartbeat(), 0.0)


def test_timers() -> None:
    deadline = Deadline.after(10.0, 2.0)
    assert not deadline.expired(11.9) and deadline.expired(12.0)
    assert deadline.remaining(11.5) == pytest.approx(0.5)
    periodic = Periodic(0.1, now=0.0)
    assert [periodic.due(t / 100) for t in range(0, 25)].count(True) == 3
    assert periodic.due(5.0) and not periodic.due(5.05)   # a stall does not burst
    dog = Watchdog(0.5)
    assert dog.expired(0.0)                               # never kicked: expired
    dog.kick(1.0)
    assert not dog.expired(1.49) and dog.expired(1.5)
    assert dog.age(1.2) == pytest.approx(0.2)


def test_hello_to_a_silent_device_backs_off() -> None:
    bench = Bench()
    bench.mcu_online = False
    bench.connect()
    bench.advance(2.0)
    assert bench.host.state is LinkState.HANDSHAKE
    # 5 quick resends, then one per reconnect interval (not 2.0 / 0.05 = 40)
    assert 5 <= bench.host.stats.retries <= 5 + 2.0 / CONFIG.reconnect_interval_s + 1


def test_unknown_ack_status_fails_the_command_at_once_with_its_number() -> None:
    """A newer MCU's status code is a refusal to report, not a bad frame to resend for 1 s."""
    bench = Bench()
    bench.connect()
    token = bench.host.send_command(Safe(True), bench.now)
    seq = max(bench.host._in_flight)
    bench.host.data_to_send()
    bench.host.receive_data(encode_frame(Ack(42, MsgType.SAFE, bench.host.session_id), seq),
                            bench.now)
    event = bench.host.next_event()
    assert isinstance(event, CommandFailed) and event.token == token
    assert "unknown status 42" in str(event.error)
    assert bench.host.stats.retries == 0 and bench.host.decoder.bad_total == 0


def test_hello_refused_by_an_older_mcu_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    host = HostProtocol(CONFIG, 0.0, session_id=5)
    host.connection_made(0.0)
    host.data_to_send()
    with caplog.at_level("ERROR", logger="firmware_bridge.host"):
        for i in range(5):   # a version-3 MCU that refuses the version (a future host's case)
            host.receive_data(encode_frame(Ack(AckStatus.BAD_VERSION, MsgType.HELLO), 0), i * 0.3)
        for i in range(5):   # a status unknown here
            host.receive_data(encode_frame(Ack(99, MsgType.HELLO), 0), 2 + i * 0.3)
    assert host.state is LinkState.HANDSHAKE
    assert [r.getMessage() for r in caplog.records] == [
        "HELLO refused: BAD_VERSION (the MCU speaks another protocol version)",
        "HELLO refused: UNKNOWN_99"]
