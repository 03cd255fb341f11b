"""H.264 and AAC encoding, and fragmented MP4 segment files, through PyAV (libx264 ships in `av`).

The recorder encodes every frame as it arrives, recording or not: the pre-event buffer holds
compressed packets (about 1/100 of the raw size), so 30 s of 720p fits in tens of MB. A packet
is later muxed unchanged into whichever segment file it falls in, so nothing is encoded twice.

Segment files are fragmented MP4 (`frag_keyframe+empty_moov`): the header is complete before
the first frame, and each keyframe (one a second by default) starts a self-contained fragment,
so a file cut by a crash still plays up to its last whole fragment. `flush_packets` hands every
packet to the kernel at once: a SIGKILL loses at most what the process had not yet written.

Timestamps: `EncodedPacket.t` is seconds on the recorder's clock; a segment file counts from its
first video frame (pts 0), video in ms, audio in samples.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

VIDEO_TIME_BASE = Fraction(1, 1000)
# Fragment at every keyframe; the header needs no seek back (moov first, empty).
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class EncodingError(RobotDogError, RuntimeError):
    """The encoder or the segment file failed (codec missing, disk error)."""


@dataclass(frozen=True)
class EncodedPacket:
    kind: str            # "video" or "audio"
    data: bytes
    t: float             # presentation time, s on the recorder's clock
    key: bool            # a video keyframe (audio packets: always True)
    duration_s: float


@dataclass(frozen=True)
class VideoSettings:
    width: int = 1280
    height: int = 720
    fps: float = 25.0
    crf: int = 23                # x264 constant quality; 18 near-lossless, 28 small
    preset: str = "veryfast"     # CPU per frame vs size
    x264_params: str = ""        # x264 options over the preset's ("key=value:key=value")
    keyframe_s: float = 1.0      # GOP: pre-event granularity and the crash-loss bound


class VideoEncoder:
    """BGR frames in, H.264 packets out, one packet per frame (zerolatency: no B-frames, no
    look-ahead), so the caller knows at once whether a frame became a keyframe."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        self._header = io.BytesIO()
        holder = av.open(self._header, "w", format="mp4", options={"movflags": "empty_moov"})
        options = {"preset": settings.preset, "tune": "zerolatency", "crf": str(settings.crf),
                   "forced-idr": "1"}
        if settings.x264_params:
            options["x264-params"] = settings.x264_params
        stream = holder.add_stream("libx264", rate=Fraction(settings.fps).limit_denominator(1000),
                                   options=options)
        stream.width, stream.height, stream.pix_fmt = settings.width, settings.height, "yuv420p"
        stream.codec_context.time_base = VIDEO_TIME_BASE
        stream.codec_context.gop_size = max(1, round(settings.keyframe_s * settings.fps))
        stream.codec_context.thread_count = 1   # one core for encoding; the other stays free
        holder.start_encoding()                 # opens the encoder: extradata (SPS/PPS) now known
        # The holder has done its job (an open, started output container must not be left to
        # the garbage collector: its trailer would touch a codec context freed before it).
        holder.close()
        self._codec = stream.codec_context
        # Segment files copy their stream parameters from this parsed header; the container
        # must stay referenced as long as its stream is (PyAV frees the stream with it).
        self._template_file = av.open(io.BytesIO(self._header.getvalue()), "r", format="mp4")
        self.template = self._template_file.streams.video[0]
        self.extradata: bytes = bytes(self._codec.extradata or b"")
        self._epoch: float | None = None
        self._last_pts = -1

    def encode(self, frame: np.ndarray, t: float, keyframe: bool = False) -> list[EncodedPacket]:
        """Encode one BGR frame taken at `t` (s); `keyframe` forces an IDR (a segment cut)."""
        if frame.shape[:2] != (self.settings.height, self.settings.width):
            raise EncodingError(f"frame {frame.shape[1]}x{frame.shape[0]} does not match the "
                                f"encoder's {self.settings.width}x{self.settings.height}")
        if self._epoch is None:
            self._epoch = t
        # x264 takes YUV 4:2:0: OpenCV's BGR -> I420 (BT.601, limited range, as swscale's
        # default) costs a sixth of swscale's, and the frame wraps the I420 array without a copy
        # (x264 copies its input at once). `./dev.sh bench bodycam_frame` has the figures.
        i420 = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420), np.uint8)   # no copy: uint8
        video = av.VideoFrame.from_numpy_buffer(i420, format="yuv420p")
        # Strictly increasing: a loaded machine can hand over two frames within one ms, and the
        # muxer refuses a repeated timestamp (EINVAL).
        video.pts = self._last_pts = max(round((t - self._epoch) * 1000), self._last_pts + 1)
        video.time_base = VIDEO_TIME_BASE
        if keyframe:
            video.pict_type = av.video.frame.PictureType.I
        out = []
        for packet in self._codec.encode(video):
            pts_s = (packet.pts or 0) / 1000 + self._epoch
            out.append(EncodedPacket("video", bytes(packet), pts_s, bool(packet.is_keyframe),
                                     1 / self.settings.fps))
        return out

    def close(self) -> None:
        self._template_file.close()


class AudioEncoder:
    """Interleaved int16 PCM in, AAC packets out (ffmpeg's native encoder: always in the wheel)."""

    def __init__(self, sample_rate: int, channels: int, bit_rate: int = 64_000) -> None:
        self.sample_rate, self.channels = sample_rate, channels
        header = io.BytesIO()
        holder = av.open(header, "w", format="mp4", options={"movflags": "empty_moov"})
        layout = "mono" if channels == 1 else "stereo"
        stream = holder.add_stream("aac", rate=sample_rate, layout=layout)
        stream.codec_context.time_base = Fraction(1, sample_rate)
        stream.codec_context.bit_rate = bit_rate
        holder.start_encoding()
        holder.close()
        self._codec, self._layout = stream.codec_context, layout
        self._template_file = av.open(io.BytesIO(header.getvalue()), "r", format="mp4")
        self.template = self._template_file.streams.audio[0]
        self._epoch: float | None = None
        self._next_sample = 0

    def encode(self, samples: np.ndarray, t: float) -> list[EncodedPacket]:
        """Encode a chunk of interleaved int16 samples whose first sample was taken at `t` (s).
        A gap of more than 0.2 s (lost chunks) re-anchors the timeline instead of drifting."""
        if self._epoch is None:
            self._epoch = t
        expected = self._epoch + self._next_sample / self.sample_rate
        if abs(t - expected) > 0.2:
            self._next_sample = max(self._next_sample, round((t - self._epoch) * self.sample_rate))
        pcm = np.asarray(samples, np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=self._layout)
        frame.sample_rate = self.sample_rate
        frame.pts = self._next_sample
        frame.time_base = Fraction(1, self.sample_rate)
        self._next_sample += pcm.shape[1] // self.channels
        out = []
        for packet in self._codec.encode(frame):
            start = self._epoch + (packet.pts or 0) / self.sample_rate
            out.append(EncodedPacket("audio", bytes(packet), start, True,
                                     (packet.duration or 1024) / self.sample_rate))
        return out

    def close(self) -> None:
        self._template_file.close()


class SegmentFile:
    """One fragmented MP4 file being written; packets are muxed as they come (no re-encoding)."""

    def __init__(self, path: Path, video: VideoEncoder, audio: AudioEncoder | None, t0: float) -> None:
        self.path, self.t0 = path, t0
        try:
            self._out = av.open(str(path), "w", format="mp4",
                                options={"movflags": MOVFLAGS, "flush_packets": "1"})
            self._video: Any = self._out.add_stream_from_template(video.template, opaque=True)
            # Annex-B extradata as the encoder made it: the muxer then converts every packet
            # to MP4's length-prefixed form itself (the template's avcC would make it skip that).
            self._video.codec_context.extradata = video.extradata
            self._audio: Any = self._out.add_stream_from_template(audio.template, opaque=True) if audio else None
            self._audio_rate = audio.sample_rate if audio else 1
        except (OSError, av.FFmpegError) as exc:
            raise EncodingError(f"cannot open segment {path}: {exc}") from exc
        self.frames = 0
        self.end_t = t0
        self._last_audio_pts = self._last_video_pts = -1

    def write(self, packet: EncodedPacket) -> None:
        if packet.kind == "video":
            stream: Any
            stream, pts = self._video, max(round((packet.t - self.t0) * 1000), self._last_video_pts + 1)
            self._last_video_pts = pts
            duration = round(packet.duration_s * 1000)
            self.frames += 1
            self.end_t = max(self.end_t, packet.t + packet.duration_s)
        else:
            if self._audio is None or packet.t < self.t0:
                return   # audio from before the segment's first frame belongs to the previous one
            stream, pts = self._audio, round((packet.t - self.t0) * self._audio_rate)
            if pts <= self._last_audio_pts:
                return
            self._last_audio_pts = pts
            duration = round(packet.duration_s * self._audio_rate)
        out = av.Packet(packet.data)
        out.pts = out.dts = pts
        out.duration = duration
        out.time_base = Fraction(1, self._audio_rate) if packet.kind == "audio" else VIDEO_TIME_BASE
        out.stream = stream
        out.is_keyframe = packet.key
        try:
            self._out.mux(out)
        except (OSError, av.FFmpegError) as exc:
            raise EncodingError(f"cannot write segment {self.path}: {exc}") from exc

    def close(self) -> None:
        """Finish the last fragment and make the file durable before anyone hashes it."""
        try:
            self._out.close()
            # Streams borrow from the encoders' templates: let them go with the file, not at
            # interpreter exit in an arbitrary order (PyAV then frees shared data twice).
            self._video = self._audio = None
        except (OSError, av.FFmpegError) as exc:
            raise EncodingError(f"cannot close segment {self.path}: {exc}") from exc
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
