"""Opus for two-way talk over MQTT: 20 ms frames of 48 kHz mono int16 <-> Opus packets (PyAV,
which bundles libopus), and the packet envelope that carries one packet with its sequence
number and capture time.

Envelope (network byte order), 13 bytes then the Opus packet:
    version u8 (= 1) | sequence u32 (wraps) | captured_at u64 (ms since the Unix epoch) | opus
The codec objects keep no I/O: bytes in, bytes or samples out. PyAV is imported when a codec
is first made (17.5 MB resident, measured), and numpy with it: the station and the uplink
load them only once talk is used (the envelope needs neither).
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from robot_dog.audio.devices import FRAME_SAMPLES, RATE_HZ

if TYPE_CHECKING:
    import numpy as np

#: Per direction, bit/s (speech at 24 kbit/s is clear; the link budget allows 32 kbit/s).
BITRATE_BPS = 24_000
MAX_BITRATE_BPS = 32_000
VERSION = 1
_HEADER = struct.Struct("!BIQ")
HEADER_BYTES = _HEADER.size
#: An Opus packet is at most 1275 bytes (RFC 6716 section 3.2.1).
MAX_PACKET_BYTES = HEADER_BYTES + 1275


class OpusError(RobotDogError, ValueError):
    """A packet or frame that cannot be encoded/decoded (clear message, nothing crashes)."""


@dataclass(frozen=True)
class VoicePacket:
    sequence: int      # u32, +1 per 20 ms frame; gaps mean loss
    captured_at_ms: int
    opus: bytes


def pack(packet: VoicePacket) -> bytes:
    return _HEADER.pack(VERSION, packet.sequence & 0xFFFFFFFF, packet.captured_at_ms) + packet.opus


def unpack(data: bytes) -> VoicePacket:
    if not isinstance(data, (bytes, bytearray)) or not HEADER_BYTES < len(data) <= MAX_PACKET_BYTES:
        raise OpusError(f"voice packet of {len(data) if isinstance(data, (bytes, bytearray)) else '?'} "
                        f"bytes: expected {HEADER_BYTES + 1}-{MAX_PACKET_BYTES}")
    version, sequence, captured_at = _HEADER.unpack_from(data)
    if version != VERSION:
        raise OpusError(f"voice packet version {version}, expected {VERSION}")
    return VoicePacket(sequence, captured_at, bytes(data[HEADER_BYTES:]))


class OpusEncoder:
    """20 ms int16 frames in, one Opus packet per frame out (VoIP mode, constant frame size)."""

    def __init__(self, bitrate_bps: int = BITRATE_BPS) -> None:
        import av
        if not 6_000 <= bitrate_bps <= MAX_BITRATE_BPS:
            raise OpusError(f"bitrate {bitrate_bps} bit/s outside 6000-{MAX_BITRATE_BPS}")
        self._ctx = av.CodecContext.create("libopus", "w")
        self._ctx.sample_rate, self._ctx.layout, self._ctx.format = RATE_HZ, "mono", "s16"
        self._ctx.bit_rate = bitrate_bps
        self._ctx.options = {"application": "voip", "frame_duration": "20", "vbr": "constrained"}
        self._ctx.open()
        self._pts = 0

    def encode(self, frame: np.ndarray) -> list[bytes]:
        """One 20 ms frame (960 samples) -> its packets (one, after the encoder's first frame)."""
        import av  # loaded by __init__; a dict look-up here
        import numpy as np
        samples = np.asarray(frame)
        if samples.dtype != np.int16 or samples.shape != (FRAME_SAMPLES,):
            raise OpusError(f"expected {FRAME_SAMPLES} int16 samples, got {samples.dtype} "
                            f"{samples.shape}")
        av_frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        av_frame.sample_rate, av_frame.pts = RATE_HZ, self._pts
        self._pts += FRAME_SAMPLES
        return [bytes(p) for p in self._ctx.encode(av_frame)]


class OpusDecoder:
    """Opus packets -> int16 samples at 48 kHz mono."""

    def __init__(self) -> None:
        import av
        self._ctx = av.CodecContext.create("libopus", "r")
        self._ctx.sample_rate, self._ctx.layout = RATE_HZ, "mono"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE_HZ)

    def decode(self, opus: bytes) -> np.ndarray:
        import av  # loaded by __init__; a dict look-up here
        import numpy as np
        try:
            frames = self._ctx.decode(av.Packet(opus))
        except (av.error.FFmpegError, ValueError) as exc:
            raise OpusError(f"undecodable Opus packet ({len(opus)} bytes): {exc}") from None
        out = [f.to_ndarray().reshape(-1) for fr in frames for f in self._resampler.resample(fr)]
        return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def opus_head(pre_skip: int = 312) -> bytes:
    """The OpusHead of a mono 48 kHz stream (RFC 7845 section 5.1); 312 = libopus's look-ahead."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, RATE_HZ, 0, 0)


def write_ogg(path: str, packets: list[bytes]) -> None:
    """Mux 20 ms Opus packets into an Ogg Opus file (ffprobe/ffplay/browsers read it)."""
    from fractions import Fraction

    import av
    with av.open(str(path), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=RATE_HZ, layout="mono")
        stream.codec_context.extradata = opus_head()
        stream.time_base = Fraction(1, RATE_HZ)
        for i, data in enumerate(packets):
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, stream.time_base
            packet.pts = packet.dts = i * FRAME_SAMPLES
            packet.duration = FRAME_SAMPLES
            out.mux(packet)
