"""MCU side of the payload protocol, sans-I/O: the reference for firmware and the virtual MCU.

Duplicate safety (docs/serial_protocol.md section 6): the MCU remembers the status it answered
for the last `DEDUP_DEPTH` command sequence numbers of the session; a resent command (its ack was
lost) gets the same status again and is not re-applied. Reorder safety: per command type, a
command older (serial-number arithmetic, RFC 1982) than the last applied one is answered STALE
and not applied, so a late retry cannot undo a newer setting.
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
    "bad_value": AckStatus.OUT_OF_RANGE,
}


def seq_newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number `a` comes after `b` (RFC 1982 serial arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


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

    def receive_data(self, data: bytes) -> None:
        self.decoder.receive_data(data)
        while (event := self.decoder.next_event()) is not None:
            if isinstance(event, Rejected):
                if event.msg_type < 0x80:  # a host command we cannot use: say why
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
        if isinstance(message, Heartbeat):
            self._events.append(HeartbeatReceived(seq))
            return
        if message.TYPE >= 0x80:
            self._out += encode_frame(Ack(AckStatus.UNKNOWN_TYPE), seq)
            return
        if isinstance(message, Hello):
            if message.session_id != self.session_id:
                self.session_id = message.session_id
                self._answered.clear()
                self._last_applied.clear()
                self._awaiting.clear()
            self.send_ack(seq, AckStatus.OK)
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
        last = self._last_applied.get(message.TYPE)
        if last is not None and not seq_newer(seq, last):
            self.send_ack(seq, AckStatus.STALE)
            return
        self._last_applied[message.TYPE] = seq
        self._awaiting.add(seq)
        self._events.append(CommandReceived(seq, message))

    def _remember(self, seq: int, status: AckStatus) -> None:
        self._answered[seq] = status
        self._answered.move_to_end(seq)
        while len(self._answered) > DEDUP_DEPTH:
            self._answered.popitem(last=False)
