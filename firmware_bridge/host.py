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

Sequence numbers (section 3): commands are numbered `first_seq`, +1, ... up to 65535 within one
session and never wrap; HELLO and HEARTBEAT carry 0. Before the counter would pass 65535 the host
starts a new session (HELLO with a new id), so the MCU's plain "seq > last of this type" rule
holds for any uptime. Every connection, an MCU reboot (seen in its frames, or NO_SESSION) and a
STALE answer to the newest command of its type also start a new session. No command is sent
while one `DEDUP_DEPTH` or more numbers older is still unanswered, so a resend always finds its
first answer in the MCU's duplicate cache (an applied command is never reported STALE).

Versions (section 5): the host offers version 3 at every connection and reads 2 and 3; an MCU
that answers the HELLO with a version-2 ACK(BAD_VERSION) is spoken to in version 2 until the
port reopens (the documented transition). In version 3 an ACK is matched on session, type and
seq; SAFE commands go ahead of every queued command (an e-stop never waits behind a light).
"""
from __future__ import annotations

import enum
import logging
import random
from collections import OrderedDict, deque
from dataclasses import dataclass

from firmware_bridge.codec import Frame, FrameDecoder, Rejected, encode_frame
from firmware_bridge.errors import CommandRefused, CommandTimeout, LocalProtocolError
from firmware_bridge.messages import (
    COMMANDS, DEDUP_DEPTH, HOST_VERSIONS, PROTOCOL_VERSION, Ack, AckStatus, Event as McuEvent,
    Heartbeat, Hello, Message, Safe, Telemetry, enum_name,
)
from firmware_bridge.timers import Periodic

_LOGGER = logging.getLogger(__name__)

#: seq of the frames that are not numbered: HELLO and HEARTBEAT.
UNNUMBERED = 0
#: Command seqs of one session run from `first_seq` (default FIRST_SEQ) up to LAST_SEQ.
FIRST_SEQ = 1
LAST_SEQ = 0xFFFF
#: The MCU's uptime_ms wraps after 49.7 days: a step back from this close to the top is a wrap.
_UPTIME_WRAP_MARGIN_MS = 600_000
#: Heartbeats whose send time is kept to judge the MCU's echo (6.4 s at 10 Hz).
_BEATS_KEPT = 64


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
    #: Host time the heartbeat echoed in this frame was sent: the frame was sampled after it,
    #: so `now - sampled_after` bounds its age from above. None: a version-2 frame (no echo).
    #: -inf: a version-3 frame echoing no beat this host sent (sampled before the first one
    #: arrived, or the MCU hears nothing): its age is unknown, so it is not fresh.
    sampled_after: float | None = None


@dataclass(frozen=True)
class EventReceived:
    """Version 3: the MCU pushed a safe-state or fault change at once."""
    event: McuEvent
    seq: int


@dataclass(frozen=True)
class McuRebooted:
    """The MCU restarted (its boot id changed or its uptime ran backwards): its session, its
    commanded safe state and its outputs are gone; a new session is under way."""
    how: str


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


Event = Connected | TelemetryReceived | EventReceived | McuRebooted | CommandDone | CommandFailed


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
    telemetry_gaps: int = 0   # MCU frames (TELEMETRY, EVENT) missing between their numbers
    events: int = 0           # EVENT frames received
    mcu_reboots: int = 0      # MCU restarts seen (never counted as lost frames)
    foreign_acks: int = 0     # version-3 ACKs for another session or type: ignored
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
        self.decoder = FrameDecoder("host<-mcu", HOST_VERSIONS)
        self.version = PROTOCOL_VERSION   # spoken on this connection (2 after a fallback)
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
        self._boot_id: int | None = None         # the MCU's, from version-3 telemetry
        self._uptime_ms: int | None = None       # newest uptime_ms the MCU sent
        self._beat = self._rng.randrange(1, 0x10000)   # random start: a new host never
        self._beat_sent: OrderedDict[int, float] = OrderedDict()   # matches an old echo

    # ---- connection ----------------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        """The port is open: flush the MCU's receiver, then handshake."""
        self.state = LinkState.HANDSHAKE
        self.decoder = FrameDecoder("host<-mcu", HOST_VERSIONS)
        self.version = PROTOCOL_VERSION   # offer the newest again: the MCU may have been updated
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
        pending = _Pending(token, command, deadline)
        if isinstance(command, Safe):
            # The e-stop goes first, behind earlier SAFEs only (their order decides the state).
            ahead = 0
            while ahead < len(self._queue) and isinstance(self._queue[ahead].command, Safe):
                ahead += 1
            self._queue.insert(ahead, pending)
        else:
            self._queue.append(pending)
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
        if isinstance(message, (Telemetry, McuEvent)):
            rebooted = self._mcu_rebooted(message.uptime_ms, message.boot_id)
            if self._last_telemetry_seq is not None and not rebooted:
                self.stats.telemetry_gaps += (frame.seq - self._last_telemetry_seq - 1) & 0xFFFF
            self._last_telemetry_seq = frame.seq
            if rebooted:
                self._on_reboot(rebooted, now)
            if isinstance(message, Telemetry):
                self.stats.telemetry += 1
                echo = (self._beat_sent.get(message.beat_echo, float("-inf"))
                        if frame.version >= 3 else None)
                self._events.append(TelemetryReceived(message, frame.seq, echo))
            else:
                self.stats.events += 1
                self._events.append(EventReceived(message, frame.seq))
        elif isinstance(message, Ack):
            self._on_ack(frame, now)

    def _mcu_rebooted(self, uptime_ms: int, boot_id: int) -> str:
        """'' or how a restart of the MCU shows in this frame (boot id, or uptime backwards)."""
        how = ""
        if boot_id and self._boot_id and boot_id != self._boot_id:
            how = f"boot id {self._boot_id:08x} -> {boot_id:08x}"
        elif self._uptime_ms is not None and uptime_ms < self._uptime_ms and not (
                self._uptime_ms > 0xFFFFFFFF - _UPTIME_WRAP_MARGIN_MS
                and uptime_ms < _UPTIME_WRAP_MARGIN_MS):
            how = f"uptime {self._uptime_ms} -> {uptime_ms} ms"
        self._uptime_ms = uptime_ms
        if boot_id:
            self._boot_id = boot_id
        return how

    def _on_reboot(self, how: str, now: float) -> None:
        self.stats.mcu_reboots += 1
        _LOGGER.warning("MCU rebooted (%s): its session and commanded safe state are gone; "
                        "starting a new session", how)
        self._events.append(McuRebooted(how))
        if self.state is LinkState.UP:
            self._new_session(now)

    def _on_ack(self, frame: Frame, now: float) -> None:
        seq, ack = frame.seq, frame.message
        assert isinstance(ack, Ack)
        status = ack.status
        pending = self._in_flight.get(seq)
        if pending is not None and frame.version == 2 and self.version != 2:
            if not (pending is self._hello and status == AckStatus.BAD_VERSION):
                pending = None   # a version-2 answer counts only as this refusal
        elif pending is not None and frame.version >= 3:
            # NO_SESSION carries no session; a refused HELLO carries the MCU's current one.
            session_free = status == AckStatus.NO_SESSION or (
                pending is self._hello and status != AckStatus.OK)
            if ack.type != int(pending.command.TYPE) or (
                    ack.session_id != self.session_id and not session_free):
                self.stats.foreign_acks += 1   # another session's or another command's answer
                return
        if pending is None:
            self.stats.unmatched_acks += 1  # duplicate ack of a retried command: harmless
            return
        del self._in_flight[seq]
        self.stats.acks += 1
        if pending is self._hello:
            self._hello = None
            if status == AckStatus.OK:
                self._hello_refusal = None
                self.state = LinkState.UP
                self.stats.handshakes += 1
                self._events.append(Connected(self.session_id))
            elif status == AckStatus.BAD_VERSION and frame.version == 2 and self.version != 2:
                _LOGGER.warning("the MCU speaks protocol version 2: using it until the port "
                                "reopens (no boot id, heartbeat echo or events)")
                self.version = 2
                self._start_hello(now)
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
            self._beat = self._beat % 0xFFFF + 1          # 1..65535; 0 means "none" on the wire
            self._beat_sent[self._beat] = now
            self._beat_sent.move_to_end(self._beat)
            while len(self._beat_sent) > _BEATS_KEPT:
                self._beat_sent.popitem(last=False)
            self._emit(Heartbeat(self._beat), UNNUMBERED)
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
        self._hello.wire = encode_frame(self._hello.command, UNNUMBERED, self.version)
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
            oldest = min((p.seq for p in self._in_flight.values() if p is not self._hello),
                         default=self._next_seq)
            if self._next_seq - oldest >= DEDUP_DEPTH:
                return   # a resend of `oldest` must still find its answer in the MCU's cache
            pending = self._queue.popleft()
            pending.seq = self._next_seq
            self._next_seq += 1
            self._newest[pending.command.TYPE] = pending.seq
            pending.wire = encode_frame(pending.command, pending.seq, self.version)
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
        self._out += encode_frame(message, seq, self.version)
        self.stats.sent_frames += 1
