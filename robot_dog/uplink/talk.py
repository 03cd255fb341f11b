"""Two-way talk on the dog's side (pure: no rclpy, no MQTT): the `listen` / `talk` windows,
microphone chunks -> Opus packets for `audio/mic`, station packets on `cmd/voice` -> PCM chunks
for `megaphone/voice/station`.

A window is a deadline on the monotonic clock: a signed command opens it for N s (<= 60), a
later one refreshes or closes it, and it lapses by itself, so a station that goes away cannot
leave the dog's microphone streaming or its speaker open. Voice packets are unsigned (signing
each 20 ms packet would cost more than the audio); they are played only while a signed `talk`
window is live, sealed for that window (its id and a MAC under the key the signed command
carried: robot_dog/mqtt/talk_seal.py) and numbered above the last one played, so a packet from
another station user, a recording from an earlier window or a replay inside this one is refused.
"""
from __future__ import annotations

from robot_dog.errors import Refused

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from robot_dog.audio import opus
from robot_dog.audio.pcm import FRAME_SAMPLES
from robot_dog.mqtt import talk_seal
from robot_dog.uplink.commands import AudioWindow


class Window:
    """Open until a deadline (monotonic seconds)."""

    def __init__(self) -> None:
        self._until = -math.inf

    def set(self, seconds: float, now: float) -> None:
        """Open for `seconds` from `now` (refreshing); 0 closes at once."""
        self._until = now + seconds if seconds > 0 else -math.inf

    def live(self, now: float) -> bool:
        return now < self._until


class VoiceRefused(Refused, ValueError):
    """A cmd/voice packet not played; `code` is the counter key."""


class VoiceIn:
    """cmd/voice payloads -> (sequence, int16 samples at 48 kHz), only inside the talk window,
    only sealed with its key, each sequence at most once and in order."""

    def __init__(self) -> None:
        self.window = Window()
        self.refused: Counter[str] = Counter()
        self.accepted = 0
        self.refused_run = 0              # refusals since the last accepted packet (log policy)
        self._key: talk_seal.WindowKey | None = None
        self._last_sequence = -1
        # Made when a window opens: PyAV loads then, not at the uplink's start (17.5 MB).
        self._decoder: opus.OpusDecoder | None = None

    def open(self, call: AudioWindow, now: float) -> None:
        """A signed `talk`: open (or refresh) its window, or close with 0 s. A new window id
        starts a new sequence and decoder; the same one only moves the deadline."""
        if call.seconds <= 0 or call.key is None:
            self._key = None
            self.window.set(0, now)
            return
        if call.key != self._key:
            self._key, self._last_sequence = call.key, -1
            self._decoder = opus.OpusDecoder()
        self.window.set(call.seconds, now)

    def accept(self, payload: bytes, now: float) -> tuple[int, np.ndarray]:
        """Raise VoiceRefused (counted) for a packet outside a live window, for another window,
        with a bad tag, replayed or out of order, or not a voice packet."""
        try:
            if not self.window.live(now) or self._key is None or self._decoder is None:
                raise VoiceRefused("no_talk_window", "voice packet outside a live talk window")
            try:
                packet = opus.unpack(talk_seal.open_sealed(self._key, payload))
            except talk_seal.SealError as exc:
                raise VoiceRefused(exc.code, str(exc)) from None
            except opus.OpusError as exc:
                raise VoiceRefused("bad_packet", str(exc)) from None
            if packet.sequence <= self._last_sequence:
                raise VoiceRefused("replayed", f"sequence {packet.sequence} after "
                                   f"{self._last_sequence}: replayed or out of order")
            try:
                samples = self._decoder.decode(packet.opus)
            except opus.OpusError as exc:
                raise VoiceRefused("bad_packet", str(exc)) from None
        except VoiceRefused as exc:
            self.refused[exc.code] += 1
            self.refused_run += 1
            raise
        self._last_sequence = packet.sequence
        self.accepted += 1
        self.refused_run = 0
        return packet.sequence, samples


class MicOut:
    """Microphone samples -> enveloped Opus packets, only while the listen window is live.
    A fresh encoder and sequence for each listening session (window reopened after a lapse)."""

    def __init__(self, wall_ms: Callable[[], int]) -> None:
        self.window = Window()
        self._wall_ms = wall_ms
        self._encoder: opus.OpusEncoder | None = None
        self._buffer = np.zeros(0, np.int16)
        self._sequence = 0
        self.sent = 0

    def open(self, call: AudioWindow, now: float) -> None:
        """A signed `listen`: open or refresh the window for its seconds, or close with 0."""
        self.window.set(call.seconds, now)

    def feed(self, samples: np.ndarray, now: float) -> list[bytes]:
        if not self.window.live(now):
            self._encoder, self._buffer = None, np.zeros(0, np.int16)
            return []
        if self._encoder is None:
            self._encoder, self._sequence = opus.OpusEncoder(), 0
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.int16)])
        out = []
        while self._buffer.size >= FRAME_SAMPLES:
            frame, self._buffer = self._buffer[:FRAME_SAMPLES], self._buffer[FRAME_SAMPLES:]
            for data in self._encoder.encode(frame):
                out.append(opus.pack(opus.VoicePacket(self._sequence, self._wall_ms(), data)))
                self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        self.sent += len(out)
        return out
