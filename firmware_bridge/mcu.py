"""MCU side of the payload protocol, sans-I/O: the reference for firmware and the virtual MCU.

Duplicate safety (docs/serial_protocol.md section 6): the MCU remembers the answer it gave to the
last `DEDUP_DEPTH` commands of the session, with the command itself; a resent command (same seq,
type and body: its ack was lost) gets the same status again and is not re-applied. A frame that
reuses a cached seq with another type or body is not a resend: the usual rules judge it.
Reorder safety (version 2 on): within a session the host's command numbers only grow and never
wrap, so per command type a command whose seq is not greater than the last one processed (plain
unsigned comparison; 0 at the start of a session) is answered STALE and not applied.

Version 3: every ACK names the type it answers and the MCU's session; TELEMETRY carries a boot
id (new at every boot) and the beat of the newest HEARTBEAT; TELEMETRY and EVENT frames share one
counter that starts at 1 at boot. A frame of another version is answered ACK(BAD_VERSION) as a
version-2 frame, the one ACK layout every host since version 2 reads.

Order of checks for a frame with a good CRC: MCU->host type (>= 0x80): ignored, never answered;
version; type; body length; HEARTBEAT; HELLO; session; duplicate cache; stale; then the command.
"""
from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass, replace

from firmware_bridge.codec import Frame, FrameDecoder, Rejected, encode_frame
from firmware_bridge.messages import (
    DEDUP_DEPTH, Ack, AckStatus, Event, Heartbeat, Hello, Message, MsgType,
    Telemetry,
)

#: The ACK layout every host reads (a one-byte body): how a frame of an unknown version is answered.
REFUSAL_VERSION = 2
_REJECT_STATUS = {
    "bad_version": AckStatus.BAD_VERSION,
    "unknown_type": AckStatus.UNKNOWN_TYPE,
    "bad_length": AckStatus.BAD_LENGTH,
}
#: Types from 0x80 up go MCU -> host: an MCU never answers them (an echoing line would storm).
FIRST_MCU_TYPE = 0x80


@dataclass(frozen=True)
class CommandReceived:
    """A new command to apply; answer with `McuProtocol.send_ack(seq, status)`."""
    seq: int
    command: Message


@dataclass(frozen=True)
class HeartbeatReceived:
    seq: int
    beat: int = 0


McuEvent = CommandReceived | HeartbeatReceived


class McuProtocol:
    def __init__(self, boot_id: int | None = None, rng: random.Random | None = None) -> None:
        """`boot_id`: this boot's id (random non-zero otherwise; firmware: a counter in flash
        or a hardware random number)."""
        self.decoder = FrameDecoder("mcu<-host")
        self.boot_id = boot_id if boot_id is not None else (rng or random.Random()).randrange(1, 2**32)
        self.session_id: int | None = None
        self._answered: OrderedDict[int, tuple[Message, AckStatus]] = OrderedDict()
        self._last_applied: dict[MsgType, int] = {}
        self._awaiting: dict[int, Message] = {}   # delivered as CommandReceived, not yet acked
        self._tx_seq = 0       # TELEMETRY and EVENT: the first frame after boot is 1
        self.last_beat = 0     # `beat` of the newest HEARTBEAT (0: none since boot)
        self._out = bytearray()
        self._events: deque[McuEvent] = deque()
        self.duplicates = 0
        self.ignored = 0     # frames of MCU->host types received (an echoing line)
        self.sessions = 0    # HELLOs that started a new session

    def receive_data(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        while (event := self.decoder.next_event()) is not None:
            if isinstance(event, Rejected):
                if event.msg_type >= FIRST_MCU_TYPE:
                    self.ignored += 1
                elif event.reason == "bad_version":
                    self._out += encode_frame(Ack(AckStatus.BAD_VERSION), event.seq, REFUSAL_VERSION)
                else:  # a host command we cannot use: say why
                    self._ack(event.seq, _REJECT_STATUS[event.reason], event.msg_type)
                continue
            self._on_frame(event)

    def next_event(self) -> McuEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def send_ack(self, seq: int, status: AckStatus) -> None:
        command = self._awaiting.pop(seq, None)
        if command is not None:
            self._remember(seq, command, status)
        self._ack(seq, status, int(command.TYPE) if command is not None else 0)

    def send_telemetry(self, telemetry: Telemetry) -> None:
        """Numbered from the MCU's frame counter; boot id and heartbeat echo filled in here."""
        self._send_numbered(replace(telemetry, boot_id=self.boot_id, beat_echo=self.last_beat))

    def send_event(self, event: Event) -> None:
        self._send_numbered(replace(event, boot_id=self.boot_id))

    def _send_numbered(self, message: Message) -> None:
        self._tx_seq = (self._tx_seq + 1) & 0xFFFF
        self._out += encode_frame(message, self._tx_seq)

    def _ack(self, seq: int, status: AckStatus, msg_type: int) -> None:
        self._out += encode_frame(Ack(status, msg_type, self.session_id or 0), seq)

    def _on_frame(self, frame: Frame) -> None:
        message, seq = frame.message, frame.seq
        if message.TYPE >= FIRST_MCU_TYPE:
            self.ignored += 1
            return
        if isinstance(message, Heartbeat):
            self.last_beat = message.beat
            self._events.append(HeartbeatReceived(seq, message.beat))  # with or without a session
            return
        if isinstance(message, Hello):
            if message.session_id == 0:   # 0 is "no session": never stored
                self._ack(seq, AckStatus.OUT_OF_RANGE, MsgType.HELLO)
                return
            if message.session_id != self.session_id:
                self.sessions += 1
                self.session_id = message.session_id
                self._answered.clear()
                self._last_applied.clear()
                self._awaiting.clear()
            self._ack(seq, AckStatus.OK, MsgType.HELLO)  # not a command: not cached
            return
        if self.session_id is None:
            self._ack(seq, AckStatus.NO_SESSION, message.TYPE)
            return
        cached = self._answered.get(seq)
        if cached is not None and cached[0] == message:
            self.duplicates += 1
            self._ack(seq, cached[1], message.TYPE)
            return
        if self._awaiting.get(seq) == message:
            self.duplicates += 1
            return  # the application has it and will answer
        if seq <= self._last_applied.get(message.TYPE, 0):
            self._ack(seq, AckStatus.STALE, message.TYPE)  # not cached, seq not moved
            return
        self._last_applied[message.TYPE] = seq
        self._awaiting[seq] = message
        self._events.append(CommandReceived(seq, message))

    def _remember(self, seq: int, command: Message, status: AckStatus) -> None:
        self._answered[seq] = (command, status)
        self._answered.move_to_end(seq)
        while len(self._answered) > DEDUP_DEPTH:
            self._answered.popitem(last=False)
