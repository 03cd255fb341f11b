"""MCU side of the payload protocol, sans-I/O: the reference for firmware and the virtual MCU.

Duplicate safety (docs/serial_protocol.md section 6): the MCU remembers the status it answered
for the last `DEDUP_DEPTH` command sequence numbers of the session; a resent command (its ack was
lost) gets the same status again and is not re-applied. Reorder safety (protocol version 2):
within a session the host's command numbers only grow and never wrap, so per command type a
command whose seq is not greater than the last one processed (plain unsigned comparison; 0 at
the start of a session) is answered STALE and not applied: a late retry cannot undo a newer
setting, at any uptime.

Order of checks for a frame with a good CRC: MCU->host type (>= 0x80): ignored, never answered;
version; type; body length; HELLO; session; duplicate cache; stale; then the command itself.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from firmware_bridge.codec import Frame, FrameDecoder, Rejected, encode_frame
from firmware_bridge.messages import (
    Ack, AckStatus, Heartbeat, Hello, Message, MsgType, Telemetry,
)

DEDUP_DEPTH = 32
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


McuEvent = CommandReceived | HeartbeatReceived


class McuProtocol:
    def __init__(self) -> None:
        self.decoder = FrameDecoder("mcu<-host")
        self.session_id: int | None = None
        self._answered: OrderedDict[int, AckStatus] = OrderedDict()
        self._last_applied: dict[MsgType, int] = {}
        self._awaiting: set[int] = set()   # seqs delivered as CommandReceived, not yet acked
        self._tx_seq = 0
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
                else:  # a host command we cannot use: say why
                    self._out += encode_frame(Ack(_REJECT_STATUS[event.reason]), event.seq)
                continue
            self._on_frame(event)

    def next_event(self) -> McuEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def send_ack(self, seq: int, status: AckStatus) -> None:
        self._awaiting.discard(seq)
        self._remember(seq, status)
        self._out += encode_frame(Ack(status), seq)

    def send_telemetry(self, telemetry: Telemetry) -> None:
        self._tx_seq = (self._tx_seq + 1) & 0xFFFF
        self._out += encode_frame(telemetry, self._tx_seq)

    def _on_frame(self, frame: Frame) -> None:
        message, seq = frame.message, frame.seq
        if message.TYPE >= FIRST_MCU_TYPE:
            self.ignored += 1
            return
        if isinstance(message, Heartbeat):
            self._events.append(HeartbeatReceived(seq))  # with or without a session
            return
        if isinstance(message, Hello):
            if message.session_id == 0:   # 0 is "no session": never stored
                self._out += encode_frame(Ack(AckStatus.OUT_OF_RANGE), seq)
                return
            if message.session_id != self.session_id:
                self.sessions += 1
                self.session_id = message.session_id
                self._answered.clear()
                self._last_applied.clear()
                self._awaiting.clear()
            self._out += encode_frame(Ack(AckStatus.OK), seq)  # not a command: not cached
            return
        if self.session_id is None:
            self._out += encode_frame(Ack(AckStatus.NO_SESSION), seq)
            return
        if seq in self._answered:
            self.duplicates += 1
            self._out += encode_frame(Ack(self._answered[seq]), seq)
            return
        if seq in self._awaiting:
            self.duplicates += 1
            return  # the application has it and will answer
        if seq <= self._last_applied.get(message.TYPE, 0):
            self._out += encode_frame(Ack(AckStatus.STALE), seq)  # not cached, seq not moved
            return
        self._last_applied[message.TYPE] = seq
        self._awaiting.add(seq)
        self._events.append(CommandReceived(seq, message))

    def _remember(self, seq: int, status: AckStatus) -> None:
        self._answered[seq] = status
        self._answered.move_to_end(seq)
        while len(self._answered) > DEDUP_DEPTH:
            self._answered.popitem(last=False)
