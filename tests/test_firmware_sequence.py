"""Sequence numbers over long uptimes (protocol version 2, docs/serial_protocol.md section 3).

The real host and MCU protocol ends and the MCU model in memory on a fake clock. Version 1
numbered heartbeats and commands from one 16-bit counter and compared with RFC 1982 arithmetic,
so after 32,768 frames the MCU took the next SAFE for an old one and answered STALE, which the
host counted as done. Here: property tests over any starting point of the counter (= any uptime)
and any interleaving of commands, heartbeats, lost ACKs, reconnects and MCU reboots.
"""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codec import encode_frame
from firmware_bridge.errors import CommandRefused
from firmware_bridge.host import (
    LAST_SEQ, CommandDone, CommandFailed, HostProtocol, LinkConfig, LinkState,
)
from firmware_bridge.mcu import CommandReceived, HeartbeatReceived, McuProtocol
from firmware_bridge.messages import (
    Ack, AckStatus, Hello, LightPattern, Safe, SetLight, SetSearchlight,
)
from firmware_bridge.virtual_mcu.model import McuModel

CONFIG = LinkConfig(ack_timeout_s=0.05, max_attempts=5, command_deadline_s=1.0, window=4,
                    heartbeat_period_s=0.1)


class Pair:
    """Host and MCU joined directly; `lose_acks` drops that many MCU->host writes."""

    def __init__(self, first_seq: int, seed: int = 1) -> None:
        self.now = 0.0
        self.host = HostProtocol(CONFIG, self.now, rng=random.Random(seed), first_seq=first_seq)
        self.mcu = McuProtocol()
        self.model = McuModel(now=self.now)
        self.done: dict[int, object] = {}
        self.lose_acks = 0

    def connect(self) -> None:
        self.host.connection_made(self.now)
        self.exchange()

    def exchange(self) -> None:
        for _ in range(20):
            data = self.host.data_to_send()
            if not data:
                break
            self.mcu.receive_data(data)
            while (event := self.mcu.next_event()) is not None:
                if isinstance(event, HeartbeatReceived):
                    self.model.heartbeat(self.now)
                elif isinstance(event, CommandReceived):
                    self.mcu.send_ack(event.seq, self.model.apply(event.command, self.now))
            back = self.mcu.data_to_send()
            if self.lose_acks and back:
                self.lose_acks -= 1
                continue
            self.host.receive_data(back, self.now)
        while (event := self.host.next_event()) is not None:
            if isinstance(event, (CommandDone, CommandFailed)):
                self.done[event.token] = event

    def tick(self, seconds: float = 0.01) -> None:
        self.now = round(self.now + seconds, 6)
        self.host.handle_timer(self.now)
        self.exchange()

    def command(self, message) -> object:
        """Send and run the clock until the host resolves it; the CommandDone/Failed event."""
        token = self.host.send_command(message, self.now)
        self.exchange()
        for _ in range(200):
            if token in self.done:
                return self.done.pop(token)
            self.tick()
        raise AssertionError(f"{message} never resolved")


def assert_applied(event: object) -> None:
    assert isinstance(event, CommandDone) and event.status is AckStatus.OK, event


def test_version1_defect_safe_after_32767_heartbeats_is_applied() -> None:
    """The reported case: SAFE, 32,767 heartbeats (55 min at 10 Hz), SAFE again."""
    pair = Pair(first_seq=1)
    pair.connect()
    assert_applied(pair.command(Safe(True)))
    assert_applied(pair.command(Safe(False)))
    for _ in range(32_767):
        pair.tick(0.1)                             # one heartbeat each
    assert not pair.model.safe
    assert_applied(pair.command(Safe(True)))
    assert pair.model.state.safe_commanded


@pytest.mark.slow
def test_more_commands_than_the_counter_holds_between_two_estops() -> None:
    """66,000 other commands (more than one whole 16-bit range) between two SAFEs."""
    pair = Pair(first_seq=1)
    pair.connect()
    assert_applied(pair.command(Safe(True)))
    assert_applied(pair.command(Safe(False)))
    sessions = pair.host.stats.sessions
    for i in range(66_000):
        pair.host.send_command(SetSearchlight(i % 1000, False, 60_000), pair.now)
        pair.exchange()
    pair.tick()
    assert pair.host.stats.sessions == sessions + 1      # a new session before seq 65535 wraps
    assert pair.model.state.searchlight_level == 65_999 % 1000 / 1000
    assert_applied(pair.command(Safe(True)))
    assert pair.model.state.safe_commanded
    assert pair.model.state.searchlight_strobe is False


OPS = st.one_of(
    st.tuples(st.just("light"), st.sampled_from([LightPattern.STEADY, LightPattern.FLASH,
                                                 LightPattern.OFF])),
    st.tuples(st.just("searchlight"), st.integers(0, 1000)),
    st.tuples(st.just("estop"), st.booleans()),
    st.tuples(st.just("heartbeats"), st.integers(1, 60)),
    st.tuples(st.just("lose_ack"), st.integers(1, 3)),
    st.tuples(st.just("burst"), st.integers(2, 12)),
    st.tuples(st.just("reconnect"), st.just(0)),
    st.tuples(st.just("mcu_reboot"), st.just(0)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first_seq=st.one_of(st.integers(1, LAST_SEQ), st.integers(LAST_SEQ - 20, LAST_SEQ)),
       ops=st.lists(OPS, min_size=1, max_size=40), seed=st.integers(0, 2**16))
def test_newest_command_always_wins_for_any_start_and_interleaving(first_seq, ops, seed) -> None:
    """Any point of the counter (uptime), any mix: the newest command of each type is applied
    and acknowledged OK; an e-stop is always carried out; nothing is STALE for the newest."""
    pair = Pair(first_seq, seed)
    pair.connect()
    engaged = False
    for op, arg in ops:
        if op == "light":
            pattern = arg if not engaged or arg is not LightPattern.FLASH else LightPattern.STEADY
            rate = 150 if pattern is LightPattern.FLASH else 0
            assert_applied(pair.command(SetLight(pattern, rate, 60_000)))
            assert pair.model.state.light_pattern is pattern
        elif op == "searchlight":
            assert_applied(pair.command(SetSearchlight(arg, False, 60_000)))
            assert pair.model.state.searchlight_level == arg / 1000
        elif op == "estop":
            engaged = arg
            assert_applied(pair.command(Safe(arg)))
            assert pair.model.state.safe_commanded is arg
        elif op == "heartbeats":
            for _ in range(arg):
                pair.tick(0.1)
        elif op == "lose_ack":
            pair.lose_acks = arg
            assert_applied(pair.command(SetSearchlight(123, False, 60_000)))
        elif op == "burst":       # several of one type in flight; the last one must win
            tokens = [pair.host.send_command(SetSearchlight(10 * i, False, 60_000), pair.now)
                      for i in range(arg)]
            pair.exchange()
            for _ in range(100):
                if all(t in pair.done for t in tokens):
                    break
                pair.tick()
            results = [pair.done.pop(t) for t in tokens]
            assert_applied(results[-1])
            assert all(isinstance(r, CommandDone) for r in results)
            assert pair.model.state.searchlight_level == 10 * (arg - 1) / 1000
        elif op == "reconnect":
            pair.host.connection_lost()
            pair.connect()
        elif op == "mcu_reboot":
            pair.mcu = McuProtocol()
            pair.model = McuModel(now=pair.now)
            engaged = False   # a rebooted MCU holds no commanded safe state until told again
            for _ in range(30):   # the next heartbeat takes it out of its power-up safe state
                pair.tick()
                if not pair.model.safe:
                    break
        assert pair.host.state is LinkState.UP or op == "mcu_reboot"
    assert_applied(pair.command(Safe(True)))
    assert pair.model.safe and pair.model.state.safe_commanded


def test_stale_answer_to_the_newest_command_is_an_error_and_starts_a_new_session() -> None:
    """An MCU whose sequence state is ahead of the host's (it never saw our new HELLO, say)."""
    pair = Pair(first_seq=1, seed=3)
    pair.connect()
    first_session = pair.host.session_id
    # the MCU has seen seq 500 of SAFE in this session: the host's seq 1.. is "not newer"
    pair.mcu.receive_data(encode_frame(Safe(False), 500))
    pair.mcu.next_event()
    pair.mcu.send_ack(500, AckStatus.OK)
    pair.mcu.data_to_send()
    pair.exchange()
    event = pair.command(Safe(True))
    assert isinstance(event, CommandFailed) and isinstance(event.error, CommandRefused)
    assert event.error.status is AckStatus.STALE
    assert not pair.model.state.safe_commanded
    pair.tick()
    assert pair.host.session_id != first_session and pair.host.state is LinkState.UP
    assert_applied(pair.command(Safe(True)))              # the retry works in the new session
    assert pair.model.state.safe_commanded


def test_superseded_command_is_stale_but_not_an_error() -> None:
    """Two SET_SEARCHLIGHT in flight; the older one's resend arrives after the newer one."""
    mcu = McuProtocol()
    mcu.receive_data(encode_frame(Hello(77), 0))
    mcu.data_to_send()
    for seq, level in ((10, 100), (11, 200)):
        mcu.receive_data(encode_frame(SetSearchlight(level, False, 1000), seq))
        mcu.next_event()
        mcu.send_ack(seq, AckStatus.OK)
    mcu.data_to_send()
    mcu._answered.clear()                                  # both fell out of the cache
    mcu.receive_data(encode_frame(SetSearchlight(100, False, 1000), 10))
    assert mcu.next_event() is None                        # not applied again
    assert mcu.data_to_send() == encode_frame(Ack(AckStatus.STALE, 0x11, 77), 10)
