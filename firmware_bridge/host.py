"""Host side of the payload protocol, sans-I/O (h11 style): bytes and `now` in; events and bytes out.

    proto = HostProtocol(LinkConfig(), now)
    proto.connection_made(now)            # port opened: HELLO goes out first
    seq = proto.send_command(SetLight(...), now)
    port.write(proto.data_to_send())
    proto.receive_data(port.read(...)); proto.handle_timer(now)
    while (event := proto.next_event()) is not None: ...

Reliability policy (docs/serial_protocol.md section 6): every command is resent after
`ack_timeout_s` until acknowledged, up to `max_attempts` sends or its deadline, whichever comes
first. At most `window` commands are in flight; the rest wait in order. Commands wait until the
HELLO handshake of the current session is acknowledged. A heartbeat goes out every
`heartbeat_period_s` while the port is open.

Sequence numbers (protocol version 2, section 3): commands are numbered `first_seq`, +1, ... up
to 65535 within one session and never wrap; HELLO and HEARTBEAT carry 0. Before the counter
would pass 65535 the host starts a new session (HELLO with a new id), so the MCU's plain
"seq > last of this type" rule holds for any uptime. Every connection, an MCU reboot
(NO_SESSION) and a STALE answer to the newest command of its type also start a new session.
"""
from __future__ import annotations

import enum
import logging
import random
from collections import deque
from dataclasses import dataclass

from firmware_bridge.codec import Frame, FrameDecoder, Rejected, encode_frame
from firmware_bridge.errors import CommandRefused, CommandTimeout, LocalProtocolError
from firmware_bridge.messages import (
    COMMANDS, Ack, AckStatus, Heartbeat, Hello, Message, Telemetry, enum_name,
)
from firmware_bridge.timers import Periodic

_LOGGER = logging.getLogger(__name__)

#: seq of the frames that are not numbered: HELLO and HEARTBEAT.
UNNUMBERED = 0
#: Command seqs of one session run from `first_seq` (default FIRST_SEQ) up to LAST_SEQ.
FIRST_SEQ = 1
LAST_SEQ = 0xFFFF


@dataclass(frozen=True)
class LinkConfig:
    """Timings of the host side, s. Defaults suit 115200 baud (a 50-byte frame takes 4.3 ms)."""
    ack_timeout_s: float = 0.04
    max_attempts: int = 25
    command_deadline_s: float = 1.0
    window: int = 8
    heartbeat_period_s: float = 0.1
    telemetry_stale_s: float = 1.0
    reconnect_interval_s: float = 0.25


class LinkState(enum.Enum):
    DOWN = "down"            # no port
    HANDSHAKE = "handshake"  # port open, HELLO not yet acknowledged
    UP = "up"                # commands flow


# ---- events --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Connected:
    session_id: int


@dataclass(frozen=True)
class TelemetryReceived:
    telemetry: Telemetry
    seq: int


@dataclass(frozen=True)
class CommandDone:
    """The MCU acknowledged. Status OK: applied. STALE: superseded, i.e. the host had already
    sent a newer command of the same type, which the MCU took instead (never for the newest)."""
    token: int
    command: Message
    status: AckStatus
    attempts: int


@dataclass(frozen=True)
class CommandFailed:
    token: int
    command: Message
    error: CommandRefused | CommandTimeout


Event = Connected | TelemetryReceived | CommandDone | CommandFailed


@dataclass
class _Pending:
    token: int
    command: Message
    deadline: float
    seq: int = -1
    wire: bytes = b""
    attempts: int = 0
    retry_at: float = 0.0


@dataclass
class HostStats:
    sent_frames: int = 0
    retries: int = 0
    acks: int = 0
    unmatched_acks: int = 0
    timeouts: int = 0
    telemetry: int = 0
    telemetry_gaps: int = 0   # MCU frames missing between telemetry sequence numbers
    handshakes: int = 0
    sessions: int = 0         # sessions started (HELLO with a new id)
    refused_frames: int = 0   # well-formed MCU frames this host cannot use (newer version, type)


class HostProtocol:
    def __init__(self, config: LinkConfig | None = None, now: float = 0.0,
                 session_id: int | None = None, rng: random.Random | None = None,
                 first_seq: int = FIRST_SEQ) -> None:
        """`session_id`: the first session's id (random otherwise). `first_seq`: where each
        session's command numbers start (tests start near LAST_SEQ to cross many sessions)."""
        if not FIRST_SEQ <= first_seq <= LAST_SEQ:
            raise LocalProtocolError(f"first_seq {first_seq} outside {FIRST_SEQ}..{LAST_SEQ}")
        if session_id is not None and not 0 < session_id < 2**32:
            raise LocalProtocolError(f"session_id {session_id} outside 1..2**32-1")
        self.config = config or LinkConfig()
        self._rng = rng or random.Random()
        self.session_id = session_id if session_id is not None else self._new_session_id()
        self._session_used = False       # the current id was already offered in a HELLO
        self._first_seq = first_seq
        self._next_seq = first_seq
        self._newest: dict[int, int] = {}   # command type -> seq of its newest send this session
        self.state = LinkState.DOWN
        self.decoder = FrameDecoder("host<-mcu")
        self.stats = HostStats()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._queue: deque[_Pending] = deque()
        self._in_flight: dict[int, _Pending] = {}   # seq -> pending
        self._hello: _Pending | None = None
        self._next_token = 1
        self._heartbeat = Periodic(self.config.heartbeat_period_s, now)
        self._last_telemetry_seq: int | None = None
        self._hello_refusal: int | None = None   # last refusal of HELLO logged

    # ---- connection ----------------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        """The port is open: flush the MCU's receiver, then handshake."""
        self.state = LinkState.HANDSHAKE
        self.decoder = FrameDecoder("host<-mcu")
        self._out += b"\x00"  # ends any partial frame the MCU holds from before
        self._heartbeat = Periodic(self.config.heartbeat_period_s, now)
        self._new_session(now)
        self.handle_timer(now)  # first heartbeat right behind HELLO: the MCU leaves safe state

    def connection_lost(self) -> None:
        """The port went away: in-flight commands go back to the front of the queue."""
        self.state = LinkState.DOWN
        self._out.clear()
        requeue = sorted(self._in_flight.values(), key=lambda p: p.token)
        self._in_flight.clear()
        self._hello = None
        for pending in reversed(requeue):
            pending.seq, pending.wire = -1, b""
            self._queue.appendleft(pending)

    # ---- commands ------------------------------------------------------------------------

    def send_command(self, command: Message, now: float, deadline_s: float | None = None) -> int:
        """Queue `command`; returns a token that its CommandDone/CommandFailed event carries."""
        if not isinstance(command, COMMANDS) or isinstance(command, Hello):
            raise LocalProtocolError(f"{type(command).__name__} is not a host command")
        encode_frame(command, 0)  # raises LocalProtocolError now, not later in the I/O loop
        token = self._next_token
        self._next_token += 1
        deadline = now + (self.config.command_deadline_s if deadline_s is None else deadline_s)
        self._queue.append(_Pending(token, command, deadline))
        self._pump(now)
        return token

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # ---- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        self.decoder.receive_data(data)
        while (event := self.decoder.next_event()) is not None:
            if isinstance(event, Rejected):
                self.stats.refused_frames += 1  # logged by the decoder; never answered
                continue
            self._on_frame(event, now)
        self._pump(now)

    def _on_frame(self, frame: Frame, now: float) -> None:
        message = frame.message
        if isinstance(message, Telemetry):
            self.stats.telemetry += 1
            if self._last_telemetry_seq is not None:
                self.stats.telemetry_gaps += (frame.seq - self._last_telemetry_seq - 1) & 0xFFFF
            self._last_telemetry_seq = frame.seq
            self._events.append(TelemetryReceived(message, frame.seq))
        elif isinstance(message, Ack):
            self._on_ack(frame.seq, message.status, now)

    def _on_ack(self, seq: int, status: AckStatus, now: float) -> None:
        pending = self._in_flight.pop(seq, None)
        if pending is None:
            self.stats.unmatched_acks += 1  # duplicate ack of a retried command: harmless
            return
        self.stats.acks += 1
        if pending is self._hello:
            self._hello = None
            if status == AckStatus.OK:
                self._hello_refusal = None
                self.state = LinkState.UP
                self.stats.handshakes += 1
                self._events.append(Connected(self.session_id))
            else:
                if status != self._hello_refusal:   # once per kind, not every 250 ms
                    _LOGGER.error("HELLO refused: %s%s", enum_name(status, AckStatus),
                                  " (the MCU speaks another protocol version)"
                                  if status == AckStatus.BAD_VERSION else "")
                self._hello_refusal = status
                self._start_hello(now)
            return
        if status == AckStatus.NO_SESSION:
            # The MCU lost our session (it rebooted): new session, then resend (new seq: the
            # command was not applied, so this is a first send in that session, not a resend).
            _LOGGER.warning("MCU has no session (rebooted?); starting a new session")
            self._in_flight[seq] = pending   # requeued with the others, in submission order
            self._new_session(now)
        elif status == AckStatus.STALE and self._newest.get(pending.command.TYPE) == pending.seq:
            # The MCU holds a newer seq for this type than anything this session sent: its
            # sequence state is not ours. Never "done": fail, and start over with a new session.
            _LOGGER.error("MCU answered STALE to the newest %s (seq %d): not applied; "
                          "starting a new session", type(pending.command).__name__, pending.seq)
            self._events.append(CommandFailed(pending.token, pending.command,
                                              CommandRefused(status, pending.command)))
            self._new_session(now)
        elif status in (AckStatus.OK, AckStatus.STALE):
            self._events.append(CommandDone(pending.token, pending.command, status, pending.attempts))
        else:
            self._events.append(CommandFailed(pending.token, pending.command,
                                              CommandRefused(status, pending.command)))

    # ---- time ----------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        if self.state is not LinkState.DOWN and self._heartbeat.due(now):
            self._emit(Heartbeat(), UNNUMBERED)
        for seq, pending in list(self._in_flight.items()):
            if now < pending.retry_at:
                continue
            hello = pending is self._hello
            if not hello and (now >= pending.deadline or pending.attempts >= self.config.max_attempts):
                del self._in_flight[seq]
                self.stats.timeouts += 1
                self._events.append(CommandFailed(pending.token, pending.command,
                                                  CommandTimeout(pending.command, pending.attempts)))
                continue
            self.stats.retries += 1
            self._transmit(pending, now)
        # queued commands can lapse before they are ever sent (link down, MCU silent)
        while self._queue and now >= self._queue[0].deadline:
            pending = self._queue.popleft()
            self.stats.timeouts += 1
            self._events.append(CommandFailed(pending.token, pending.command,
                                              CommandTimeout(pending.command, pending.attempts)))
        self._pump(now)

    def next_deadline(self) -> float | None:
        """When handle_timer next has work, or None with nothing scheduled."""
        times = [p.retry_at for p in self._in_flight.values()]
        times += [p.deadline for p in self._queue]
        if self.state is not LinkState.DOWN:
            times.append(self._heartbeat.next_at)
        return min(times) if times else None

    # ---- internals -----------------------------------------------------------------------

    def _new_session_id(self) -> int:
        while True:
            session_id = self._rng.randrange(1, 2**32)
            if session_id != getattr(self, "session_id", None):
                return session_id

    def _requeue(self, *pending: _Pending) -> None:
        """Back to the front of the queue, in submission order; sent again with a new seq."""
        for item in sorted(pending, key=lambda p: p.token, reverse=True):
            self._in_flight.pop(item.seq, None)
            item.seq, item.wire = -1, b""
            self._queue.appendleft(item)

    def _new_session(self, now: float) -> None:
        """HELLO with a new session id (the first connection uses the given one); command
        numbers restart at `first_seq`; commands in flight go back to the queue."""
        if self._session_used:
            self.session_id = self._new_session_id()
        self._session_used = True
        self._requeue(*(p for p in self._in_flight.values() if p is not self._hello))
        self._next_seq = self._first_seq
        self._newest.clear()
        self.state = LinkState.HANDSHAKE
        self.stats.sessions += 1
        self._start_hello(now)

    def _start_hello(self, now: float) -> None:
        if self._hello is not None:
            self._in_flight.pop(self._hello.seq, None)
        self._hello = _Pending(0, Hello(self.session_id), deadline=float("inf"))
        self._hello.seq = UNNUMBERED
        self._hello.wire = encode_frame(self._hello.command, UNNUMBERED)
        self._in_flight[UNNUMBERED] = self._hello
        self._transmit(self._hello, now)

    def _pump(self, now: float) -> None:
        if self.state is not LinkState.UP:
            return
        while self._queue and len(self._in_flight) < self.config.window:
            if self._next_seq > LAST_SEQ:
                # Numbers never wrap within a session: once the commands in flight are
                # answered (or lapse), a new session; nothing is sent twice.
                if len(self._in_flight) == (self._hello is not None):
                    self._new_session(now)
                return
            pending = self._queue.popleft()
            pending.seq = self._next_seq
            self._next_seq += 1
            self._newest[pending.command.TYPE] = pending.seq
            pending.wire = encode_frame(pending.command, pending.seq)
            self._in_flight[pending.seq] = pending
            self._transmit(pending, now)

    def _transmit(self, pending: _Pending, now: float) -> None:
        pending.attempts += 1
        # HELLO is retried for as long as the port is open; after a few quick tries, slowly
        # (a silent or wrong device should not be flooded at 25 frames/s).
        slow = pending is self._hello and pending.attempts > 5
        pending.retry_at = now + (self.config.reconnect_interval_s if slow
                                  else self.config.ack_timeout_s)
        self._out += pending.wire
        self.stats.sent_frames += 1

    def _emit(self, message: Message, seq: int) -> None:
        self._out += encode_frame(message, seq)
        self.stats.sent_frames += 1
