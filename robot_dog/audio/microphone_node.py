"""microphone_node: the dog's microphone as chunks, levels and sound events.

Publishes `microphone/audio` (AudioChunk, 20 ms, sensor QoS: for live listening, and only
while something subscribes to it), `microphone/audio_blocks` (the same samples in blocks of
`block_frames` x 20 ms, 100 ms by default: for consumers that keep audio rather than play it,
the bodycam recorder), `microphone/level` (AudioLevel at `level_hz`: dBFS, BS.1770 momentary
loudness, voice activity) and `microphone/events` (SoundEvent: bang, glass_break, shout, loud
with peak and confidence). At rest nobody listens live: 10 blocks a second instead of 50
chunks, each a wake of every subscriber (docs/BENCHMARKS.md, CPU at rest). Subscribes
`megaphone/active`: while the dog's own megaphone plays, events are gated. A reader thread
owns the input stream (blocking reads are the clock); a device that fails is reopened.
Behaviour is in level.py and sound_events.py.
"""
from __future__ import annotations

import array
import threading
import time
from functools import partial
from typing import Any

from rclpy.node import Node
from rclpy.time import Time
from robot_dog_interfaces.msg import AudioChunk, AudioLevel, SoundEvent
from std_msgs.msg import Bool, Header

from robot_dog.ros import frames, qos
from robot_dog.audio import devices
from robot_dog.audio.level import LevelMeter
from robot_dog.audio.pcm import FRAME_S, to_float
from robot_dog.audio.sound_events import EventConfig, SoundEventDetector
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node


class MicrophoneNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "microphone")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        self._device = p("device", devices.MIC_SOURCE, "microphone device (PulseAudio/ALSA name)")
        self._audio = None
        if p("virtual_audio", False, "start/reuse the virtual PulseAudio devices (no hardware)"):
            try:
                self._audio = devices.ensure_virtual_devices()
            except devices.AudioDeviceError as exc:
                self.get_logger().error(f"virtual audio unavailable: {exc}")
        self._level_every = max(1, round(1.0 / (p("level_hz", 10.0, "AudioLevel rate, Hz") * FRAME_S)))
        self._events = SoundEventDetector(EventConfig(
            shout_dbfs=p("shout_dbfs", -20.0, "shout: voiced RMS at least this, dBFS"),
            loud_lufs=p("loud_lufs", -15.0, "loud: momentary loudness at least this, LUFS"),
            impulse_peak_dbfs=p("impulse_peak_dbfs", -10.0, "bang/glass: peak at least, dBFS")))
        self._meter = LevelMeter()
        self._gated = False
        self._audio_pub = self.create_publisher(AudioChunk, "microphone/audio", qos.SENSOR)
        self._block_pub = self.create_publisher(AudioChunk, "microphone/audio_blocks", qos.SENSOR)
        self._block_frames = p("block_frames", 5, "20 ms frames per microphone/audio_blocks "
                               "message (1-50)")
        if not 1 <= self._block_frames <= 50:
            raise ValueError(f"block_frames must be 1-50, got {self._block_frames}")
        self._level_pub = self.create_publisher(AudioLevel, "microphone/level", qos.SENSOR)
        self._event_pub = self.create_publisher(SoundEvent, "microphone/events", qos.TELEMETRY)
        self.create_subscription(Bool, "megaphone/active", self._on_megaphone, qos.STATE)
        self._running = True
        self._thread = threading.Thread(target=self._read_loop, name="microphone-in", daemon=True)
        self._thread.start()
        self.get_logger().info(f"microphone on {self._device!r}")

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=devices.STOP_WAIT_S)  # a read blocked on the server: not waited
        if self._audio is not None:
            self._audio.stop()

    def _on_megaphone(self, msg: Bool) -> None:
        self._gated = msg.data

    @staticmethod
    def _header(stamp: Time) -> Header:
        return Header(stamp=stamp.to_msg(), frame_id=frames.MICROPHONE)

    def _read_loop(self) -> None:
        from robot_dog.audio.stream import PcmInput
        mic, sequence = None, 0
        block: list[bytes] = []
        block_stamp, blocks = self.get_clock().now(), 0
        while self._running:
            if mic is None:
                try:
                    mic = PcmInput(self._device)
                except devices.AudioDeviceError as exc:
                    self.get_logger().error(f"no microphone: {exc}", throttle_duration_sec=30.0)
                    time.sleep(1.0)
                    continue
            try:
                samples = mic.read()
            except devices.AudioDeviceError as exc:
                self.get_logger().error(f"microphone failed, reopening: {exc}")
                mic.close()
                mic = None
                continue
            # A stamp every frame (the read's time), a Header only for what is published.
            stamp = self.get_clock().now()
            pcm = samples.tobytes()
            if self._audio_pub.get_subscription_count():   # a live listener (the uplink's)
                chunk = AudioChunk(header=self._header(stamp), sample_rate=devices.RATE_HZ,
                                   channels=1, sequence=sequence)
                chunk.samples = array.array("h", pcm)
                self._audio_pub.publish(chunk)
            if not block:
                block_stamp = stamp         # a block is stamped with its first frame's time
            block.append(pcm)
            if len(block) == self._block_frames:
                chunk = AudioChunk(header=self._header(block_stamp), sample_rate=devices.RATE_HZ,
                                   channels=1, sequence=blocks)
                chunk.samples = array.array("h", b"".join(block))
                self._block_pub.publish(chunk)
                block, blocks = [], (blocks + 1) % (1 << 32)
            frame = to_float(samples)
            level = self._meter.update(frame, pcm)
            self._events.set_gated(self._gated)
            event = self._events.update(frame, level)
            if sequence % self._level_every == 0:
                self._level_pub.publish(AudioLevel(
                    header=self._header(stamp), rms_dbfs=level.rms_dbfs,
                    peak_dbfs=level.peak_dbfs, lufs_momentary=level.lufs_momentary,
                    voice_active=level.voice_active))
            if event is not None:
                self.get_logger().info(f"sound event {event.kind} at {event.peak_dbfs:.1f} dBFS "
                                       f"(confidence {event.confidence:.2f})")
                self._event_pub.publish(SoundEvent(header=self._header(stamp), kind=event.kind,
                                                   peak_dbfs=event.peak_dbfs,
                                                   confidence=event.confidence))
            sequence = (sequence + 1) % (1 << 32)
        if mic is not None:
            mic.close()


def main() -> int:
    return run_node(MicrophoneNode)


if __name__ == "__main__":
    raise SystemExit(main())
