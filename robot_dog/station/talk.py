"""The station's half of two-way talk: dogs' `audio/mic` Opus packets -> PCM that the web page
reads; the page's PCM -> Opus packets on the dog's `cmd/voice` (the dog plays them only inside a
signed `talk` window, which the page opens with the `talk` command).

PCM on the HTTP side is s16le, 48 kHz, mono: the page converts with Web Audio, no codec needed in
the browser. Mic audio is kept for MIC_KEEP_S per dog and read by sample cursor, so a polling
page neither misses nor repeats audio (a page that falls behind skips to what is kept).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from robot_dog.audio import opus
from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import FRAME_SAMPLES
from robot_dog.mqtt import topics

_LOGGER = logging.getLogger(__name__)

MIC_KEEP_S = 5.0
VOICE_EXPIRY_S = 2.0
#: Largest PCM body one voice POST carries (1 s at 48 kHz, int16).
MAX_VOICE_BYTES = RATE_HZ * 2


class _MicStream:
    def __init__(self) -> None:
        self.decoder = opus.OpusDecoder()
        self.pcm = np.zeros(0, np.int16)
        self.end = 0                      # samples received since the station started


class _VoiceStream:
    def __init__(self) -> None:
        self.encoder = opus.OpusEncoder()
        self.pending = np.zeros(0, np.int16)
        self.sequence = 0


class TalkRelay:
    def __init__(self, publish: Callable[[str, bytes, int, float], object],
                 wall_ms: Callable[[], int]) -> None:
        self._publish, self._wall_ms = publish, wall_ms
        self._mics: dict[str, _MicStream] = {}
        self._voices: dict[str, _VoiceStream] = {}
        self._lock = threading.Lock()
        self.mic_packets = 0
        self.voice_packets = 0

    # --- dog -> page -----------------------------------------------------------------------------
    def on_mic(self, dog: str, payload: bytes) -> None:
        """MQTT thread; raises opus.OpusError for a bad packet (the caller dead-letters it)."""
        packet = opus.unpack(payload)
        with self._lock:
            stream = self._mics.setdefault(dog, _MicStream())
            samples = stream.decoder.decode(packet.opus)
            keep = int(MIC_KEEP_S * RATE_HZ)
            stream.pcm = np.concatenate([stream.pcm, samples])[-keep:]
            stream.end += samples.size
            self.mic_packets += 1

    def mic_since(self, dog: str, cursor: int) -> tuple[int, bytes]:
        """(new cursor, s16le PCM after `cursor`); cursor < 0 starts at the live edge."""
        with self._lock:
            stream = self._mics.get(dog)
            if stream is None:
                return 0, b""
            if cursor < 0 or cursor > stream.end:
                return stream.end, b""
            start = max(cursor, stream.end - stream.pcm.size)
            return stream.end, stream.pcm[stream.pcm.size - (stream.end - start):].tobytes()

    # --- page -> dog -----------------------------------------------------------------------------
    def send_voice(self, dog: str, pcm: bytes) -> int:
        """Encode s16le PCM (any length; remainders wait for the next call) and publish the
        packets on the dog's cmd/voice (QoS 0, expiry 2 s). Returns the packets sent."""
        if len(pcm) % 2 or len(pcm) > MAX_VOICE_BYTES:
            raise ValueError(f"PCM body of {len(pcm)} bytes: expected whole int16 samples, "
                             f"at most {MAX_VOICE_BYTES} bytes")
        topic = topics.voice(dog)
        sent = 0
        with self._lock:
            stream = self._voices.setdefault(dog, _VoiceStream())
            stream.pending = np.concatenate([stream.pending, np.frombuffer(pcm, "<i2")])
            while stream.pending.size >= FRAME_SAMPLES:
                frame, stream.pending = (stream.pending[:FRAME_SAMPLES],
                                         stream.pending[FRAME_SAMPLES:])
                for data in stream.encoder.encode(frame.astype(np.int16)):
                    packet = opus.VoicePacket(stream.sequence, self._wall_ms(), data)
                    stream.sequence = (stream.sequence + 1) & 0xFFFFFFFF
                    self._publish(topic, opus.pack(packet), 0, VOICE_EXPIRY_S)
                    sent += 1
            self.voice_packets += sent
        return sent
