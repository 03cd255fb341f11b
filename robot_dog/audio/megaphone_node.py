"""megaphone_node: announcements, siren and live voice through one mixer to the speaker.

Serves `megaphone/announce` (Announce action: feedback queued/playing, cancel), `megaphone/siren`
(Siren service); publishes `megaphone/active` (latched Bool: sound is playing, so the
microphone gates its events) and `megaphone/siren_active` (latched Bool: a siren tone is on,
one of the bodycam recorder's triggers); subscribes a live-voice topic per source
(`megaphone/voice/handheld`, `megaphone/voice/station`: AudioChunk, robot_dog/audio/voices.py)
and the payload's `amplifier/state`. An output thread writes one 20 ms frame at a time to the speaker device
through PyAudio (the blocking write is the clock); with nothing to play and the amplifier off it
sleeps until a request or a voice chunk wakes it, instead of writing silence 50 times a second
(docs/BENCHMARKS.md, CPU at rest). The amplifier is enabled through payload_node
(`amplifier/set`) before the first sound, refreshed while sounding and disabled after; when it is
refused (MCU safe state, too hot, no payload node) the sound is dropped and the requests fail
with the reason. Behaviour lives in megaphone.py and the cores; this file is wiring.
"""
from __future__ import annotations

import ctypes
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from robot_dog import verbs
from robot_dog_interfaces.action import Announce
from robot_dog_interfaces.msg import AmplifierState, AudioChunk
from robot_dog_interfaces.srv import SetAmplifier, Siren
from std_msgs.msg import Bool

from robot_dog.ros import qos
from robot_dog.audio import devices, tts
from robot_dog.audio.announcements import State
from robot_dog.audio.clips import ClipLibrary
from robot_dog.audio.amplifier_switch import AmplifierSwitch
from robot_dog.audio.megaphone import Megaphone, MegaphoneConfig
from robot_dog.audio.mixer import MixerConfig
from robot_dog.audio.pcm import FRAME_SAMPLES, to_int16, to_internal
from robot_dog.audio.voice_trace import VoiceTrace
from robot_dog.audio.voices import VOICE_SOURCES
from robot_dog.ros.params import declare_read_only
from robot_dog.errors import answer
from robot_dog.payload.errors import RequestRefused
from robot_dog.ros.priority import raise_priority
from robot_dog.ros.ros_main import run_node

DEVICE_CHECK_S = 2.0         # how often the virtual speaker's presence is checked
WAKE_PRIME_FRAMES = 2        # silence written before the first sound after a sleep: the device
                             # buffer (40 ms) refilled. Written into a stream that ran dry, the
                             # first 10-20 ms were lost (measured: 173 of 192 ms of a tone heard;
                             # all of it after 1 or 2 frames of silence, and its onset 30-40 ms
                             # earlier than behind the silence the loop used to keep queued)
AMP_ANSWER_S = 5.0           # an amplifier call not answered (or no payload_node found) by then
                             # counts as refused; discovery of a just-started node takes ~1 s


def _name_os_thread(name: str) -> None:
    """The calling thread's name as the kernel shows it (/proc, top -H, py-spy): Python's own
    thread names stay inside the interpreter. Linux only; elsewhere nothing happens."""
    try:
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)    # PR_SET_NAME
    except (OSError, AttributeError):
        pass


class MegaphoneNode(Node):
    # Pooled (robot_dog/ros/executors.py): an announcement's action runs (TTS synthesis, then
    # progress until played) while siren requests and push-to-talk voice chunks are served.
    EXECUTOR = "pooled"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "megaphone")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        self._device = p("device", devices.SPEAKER_SINK, "speaker device (PulseAudio/ALSA name)")
        self._latency_ms = p("output_latency_ms", 40, "speaker buffer asked, ms: 20 below 40, "
                             "40 from 40 (less underruns on a loaded CPU; more delays "
                             "push-to-talk; robot_dog/audio/stream.py)")
        self._audio = None
        if p("virtual_audio", False, "start/reuse the virtual PulseAudio devices (no hardware)"):
            try:
                self._audio = devices.ensure_virtual_devices()
            except devices.AudioDeviceError as exc:  # the output loop retries the device
                self.get_logger().error(f"virtual audio unavailable: {exc}")
        # pypinyin's dictionaries (56 MB) load on the first Mandarin announcement (~1 s, once,
        # on the announcement's own thread), not at start-up: a dog that never speaks Mandarin
        # never holds them.
        self._clips = ClipLibrary(p("clip_dir", "", "directory of WAV clips ('' = none)"))
        self._use_amp = p("amplifier", True, "switch the amplifier through payload_node")
        self._amp_volume = p("amplifier_volume", 0.8, "volume cap asked of the amplifier, 0..1")
        self._core = Megaphone(MegaphoneConfig(
            mixer=MixerConfig(volume_cap=p("volume_cap", 1.0, "highest output level, 0..1")),
            default_volume=p("default_volume", 0.8, "announcement volume when none is given")))
        self._core.volume = p("volume", 1.0, "master volume, 0..1 (capped by volume_cap)")
        # The core: output thread vs. ROS callbacks, which notify it of new sound (it sleeps
        # while there is none).
        self._lock = threading.Condition()
        trace_file = p("voice_trace", "", "write each voice chunk's times through the megaphone "
                       "to this file at exit (JSON lines; '' = off; for the benchmarks)")
        self._trace_file = Path(trace_file) if trace_file else None
        self._trace = VoiceTrace() if trace_file else None
        self._amp_state: AmplifierState | None = None

        requests = ReentrantCallbackGroup()
        self._amp_client = self.create_client(SetAmplifier, "amplifier/set", callback_group=requests)
        self._amp = AmplifierSwitch(self._amp_call, self._amp_client.service_is_ready,
                                    answer_s=AMP_ANSWER_S)
        ActionServer(self, Announce, verbs.executor_name("announce"), self._execute,
                     goal_callback=lambda _: GoalResponse.ACCEPT,
                     cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=requests)
        self.create_service(Siren, verbs.executor_name("siren"), self._on_siren, callback_group=requests)
        voices = MutuallyExclusiveCallbackGroup()
        for source in VOICE_SOURCES:
            self.create_subscription(AudioChunk, source.topic, partial(self._on_voice, source.name),
                                     qos.SENSOR, callback_group=voices)
        self.create_subscription(AmplifierState, "amplifier/state", self._on_amp_state, qos.STATE)
        self._active_pub = self.create_publisher(Bool, "megaphone/active", qos.STATE)
        self._active: bool | None = None
        self._siren_pub = self.create_publisher(Bool, "megaphone/siren_active", qos.STATE)
        self._siren_on: bool | None = None
        self._running = True
        self._watch = devices.DeviceWatch(self._device, DEVICE_CHECK_S)
        self._thread = threading.Thread(target=self._output_loop, name="megaphone-out", daemon=True)
        self._thread.start()
        self.get_logger().info(f"megaphone on {self._device!r}, clips: {self._clips.names()}")

    def close(self) -> None:
        """Stop the output; the amplifier is switched off (and lapses on the MCU anyway)."""
        self._running = False
        with self._lock:
            self._lock.notify()              # a sleeping output loop sees the stop at once
        # Not waited for longer: a write blocked on the audio server (0.8-1.5 s seen at a stop)
        # ends with the process; the amplifier goes off now either way (disabled: the loop
        # cannot switch it on again).
        self._thread.join(timeout=devices.STOP_WAIT_S)
        if self._use_amp:
            with self._lock:
                self._amp.switch_off()
        self._watch.close()
        if self._audio is not None:
            self._audio.stop()  # only a daemon this node started (no-op otherwise)
        if self._trace is not None and self._trace_file is not None:
            try:                # last: a trace that cannot be written never keeps the amp on
                with self._lock:
                    self._trace.dump(self._trace_file)
            except OSError as exc:
                self.get_logger().error(f"voice trace not written to {self._trace_file}: {exc}")

    # ---- requests ------------------------------------------------------------------------

    def _refuse_if_unsafe(self) -> None:
        state = self._amp_state
        if self._use_amp and state is not None and (state.safe_state or state.overtemp):
            raise RequestRefused("amplifier unavailable: " + ("MCU in its safe state" if state.safe_state
                                                               else "too hot"),
                                 code="payload_safe" if state.safe_state else "too_hot")

    def _execute(self, goal: Any) -> Announce.Result:
        request = goal.request
        try:
            self._refuse_if_unsafe()
            if request.text.strip() or not request.clip:
                audio, label = tts.synthesize(request.text, request.language), "text"
            else:
                audio, label = self._clips.load(request.clip), f"clip {request.clip}"
            with self._lock:
                queue, item = self._core.announce(audio, request.priority, request.volume,
                                                  request.repeat, label)
                self._lock.notify()
        except (RequestRefused, tts.TtsError) as exc:
            self.get_logger().warning(f"announcement refused: {exc}")
            goal.abort()
            return Announce.Result(success=False, message=str(exc))
        last = None
        while True:
            with self._lock:
                if goal.is_cancel_requested:
                    queue.cancel(item, "cancelled by the caller")
                status = queue.status(item)
            if status is None or status.state is State.CANCELLED:
                reason = status.reason if status else "forgotten"
                if goal.is_cancel_requested:
                    goal.canceled()
                else:
                    goal.abort()
                return Announce.Result(success=False, message=reason)
            if status.state is State.DONE:
                goal.succeed()
                return Announce.Result(success=True, message=f"played {label}")
            now = (status.state.value, status.position, round(status.progress, 1))
            if now != last:
                goal.publish_feedback(Announce.Feedback(
                    state=status.state.value, queue_position=status.position,
                    progress=status.progress))
                last = now
            time.sleep(0.05)

    def _on_siren(self, request: Siren.Request, response: Siren.Response) -> Siren.Response:
        try:
            if request.tone != "off":
                self._refuse_if_unsafe()
            with self._lock:
                plan = self._core.siren.set(request.tone, request.max_duration_s, time.monotonic())
                self._lock.notify()
        except RequestRefused as exc:
            return answer(response, exc)
        return answer(response, message=plan)

    def _on_voice(self, source: str, msg: AudioChunk) -> None:
        try:
            samples = to_internal(np.asarray(msg.samples, dtype=np.int16), msg.sample_rate,
                                  msg.channels)
        except ValueError as exc:
            self.get_logger().warning(f"{source} voice chunk {msg.sequence} dropped: {exc}",
                                      throttle_duration_sec=5.0)
            return
        with self._lock:
            buffer = self._core.voices[source]
            accepted = buffer.push(msg.sequence, samples)
            if accepted:
                self._lock.notify()
            if self._trace is not None:
                self._trace.received(source, msg.sequence, time.monotonic(),
                                     "" if accepted else buffer.refusal)

    def _on_amp_state(self, msg: AmplifierState) -> None:
        self._amp_state = msg

    # ---- output --------------------------------------------------------------------------

    def _output_loop(self) -> None:
        # Each time this thread is late past the speaker's 40 ms buffer the speaker plays
        # silence and live voice after it comes later (measured on a loaded machine: the
        # jitter-buffer stage up to 130 ms while the buffer sheds it): a larger CPU share, as
        # audio servers take.
        _name_os_thread("megaphone-out")
        refused = raise_priority()
        if refused:
            self.get_logger().warning(f"speaker thread at {refused}")
        silence = np.zeros(FRAME_SAMPLES, np.int16)
        speaker, slept = None, False
        while self._running:
            if speaker is None:
                speaker = self._open_speaker()
                if speaker is None:
                    time.sleep(1.0)
                    continue
            now = time.monotonic()
            gone = self._watch.gone          # checked in its own thread: never stalls the speaker
            if gone:
                self._watch.clear()
                self._speaker_failed(gone)
                speaker.close()
                speaker = None
                continue
            with self._lock:
                sounding = self._step_amplifier(now)
                frame = self._core.frame(now) if sounding else None
                voices, mixed = self._core.voices, time.monotonic()
                siren_on = self._core.siren.active(now)
                if (frame is None and self._resting(now) and self._active is False
                        and self._siren_on is False):
                    # Nothing to play, the amplifier off, `active` and `siren_active` False
                    # published: sleep until a request notifies (or the device check is due).
                    self._lock.wait(DEVICE_CHECK_S)
                    slept = True
                    continue
            if siren_on != self._siren_on:
                self._siren_on = siren_on
                self._siren_pub.publish(Bool(data=siren_on))
            active = frame is not None or (self._use_amp and self._amp.on)  # + the amp's tail
            if active != self._active:
                self._active = active
                self._active_pub.publish(Bool(data=active))
            try:
                if slept:
                    for _ in range(WAKE_PRIME_FRAMES):
                        speaker.write(silence)
                    slept = False
                speaker.write(silence if frame is None else to_int16(frame))
            except devices.AudioDeviceError as exc:
                self._speaker_failed(str(exc))
                speaker.close()
                speaker = None
            if self._trace is not None and sounding:
                written = time.monotonic()
                with self._lock:
                    for name, voice in voices.items():
                        if voice.started or voice.discarded:
                            self._trace.frame(name, voice.started, voice.discarded, now, mixed,
                                              written)
        if speaker is not None:
            speaker.close()

    def _resting(self, now: float) -> bool:
        """No source has sound or waits to play, and the amplifier is off with no answer due."""
        return not self._core.wants_sound(now) and (not self._use_amp or self._amp.resting)

    def _speaker_failed(self, reason: str) -> None:
        """Nothing can be heard: fail what plays or waits, amplifier off, reopen later."""
        self.get_logger().error(f"speaker failed, reopening: {reason}")
        with self._lock:
            self._core.silence_all(f"speaker device failed: {reason}")
            self._amp.switch_off()

    def _open_speaker(self) -> Any:
        from robot_dog.audio.stream import PcmOutput
        try:
            gone = devices.virtual_device_missing(self._device)
            if gone:
                raise devices.AudioDeviceError(gone)
            return PcmOutput(self._device, self._latency_ms)
        except devices.AudioDeviceError as exc:
            self.get_logger().error(f"no speaker: {exc}", throttle_duration_sec=30.0)
            return None

    def _step_amplifier(self, now: float) -> bool:
        """True when sound may play now (amplifier on, or not switched by this node)."""
        if not self._use_amp:
            return True
        refused = self._amp.step(self._core.wants_sound(now), now)
        if refused:
            self.get_logger().warning(f"sound dropped: {refused}")
            self._core.silence_all(refused)
        return self._amp.on

    def _amp_call(self, enabled: bool) -> Any:
        request = SetAmplifier.Request(enabled=enabled, volume=float(self._amp_volume) if enabled else 0.0,
                                       duration_s=float(self._amp.plan.config.lease_s))
        return self._amp_client.call_async(request)


def main() -> int:
    return run_node(MegaphoneNode)


if __name__ == "__main__":
    raise SystemExit(main())
