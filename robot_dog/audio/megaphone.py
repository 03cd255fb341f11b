"""The megaphone (pure): its sources, the mixer, and when the amplifier must be on.

Sources by priority: the safety queue (announcements with priority >= SAFETY_PRIORITY),
live voice (a jitter buffer per source: the officer's handheld over the station, voices.py),
the siren, the announcement queue. The
node's output loop calls `frame(now)` every 20 ms and writes the result to the speaker;
`AmplifierPlan` says when to enable the amplifier (before the first sound; refreshed, since the
MCU lets every enable lapse) and when to disable it (`idle_off_s` after the last sound).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_dog.audio import loudness
from robot_dog.audio.announcements import AnnouncementQueue
from robot_dog.audio.jitter import JitterBuffer
from robot_dog.audio.mixer import Mixer, MixerConfig, Priority
from robot_dog.audio.pcm import FRAME_SAMPLES
from robot_dog.audio.siren import Siren, SirenConfig
from robot_dog.audio.voices import VOICE_SOURCES
from robot_dog.payload.errors import RequestRefused

SAFETY_PRIORITY = 200            # Announce.priority at or above this: the safety channel


@dataclass(frozen=True)
class MegaphoneConfig:
    mixer: MixerConfig = MixerConfig()
    siren: SirenConfig = SirenConfig()
    default_volume: float = 0.8  # announcements sent with volume 0
    voice_prefill: int = 960     # samples buffered before live voice plays (20 ms)


def check_volume(volume: float, default: float) -> float:
    """An announcement's volume 0..1 (0 = default); RequestRefused outside."""
    if not math.isfinite(volume) or not 0.0 <= volume <= 1.0:
        raise RequestRefused(f"volume {volume} outside 0..1")
    return volume or default


class Megaphone:
    def __init__(self, config: MegaphoneConfig = MegaphoneConfig()) -> None:
        self.config = config
        self.siren = Siren(config.siren)
        self.voices = self._new_voices()
        self.announcements = AnnouncementQueue()
        self.safety = AnnouncementQueue()
        self.mixer = Mixer(config.mixer)
        self.volume = 1.0                # master volume, further capped by the mixer

    def _new_voices(self) -> dict[str, JitterBuffer]:
        """A jitter buffer per live-voice source, by source name."""
        return {source.name: JitterBuffer(prefill=self.config.voice_prefill)
                for source in VOICE_SOURCES}

    def queue_for(self, priority: int) -> AnnouncementQueue:
        return self.safety if priority >= SAFETY_PRIORITY else self.announcements

    def announce(self, audio: np.ndarray, priority: int = 0, volume: float = 0.0,
                 repeat: int = 0, label: str = "") -> tuple[AnnouncementQueue, int]:
        """Normalise loudness, scale by volume, queue; (queue, id)."""
        gain = check_volume(volume, self.config.default_volume)
        rendered = loudness.normalise(audio) * gain
        queue = self.queue_for(priority)
        return queue, queue.submit(rendered, priority, repeat, label)

    def wants_sound(self, now: float) -> bool:
        """Something plays or waits to: the amplifier goes on, the output loop runs. A voice's
        first chunk counts before its first pull makes the buffer `active` (without it,
        push-to-talk alone never switched the amplifier on, and nothing pulled the chunk)."""
        return (self.safety.busy
                or any(v.active or v.holds_sound for v in self.voices.values())
                or self.siren.active(now)
                or self.announcements.busy)

    def frame(self, now: float, n: int = FRAME_SAMPLES) -> np.ndarray | None:
        """The next mixed frame (float32, limited), or None when every source is silent."""
        frames = {Priority.SAFETY: self.safety.render(n),
                  Priority.SIREN: self.siren.render(n, now),
                  Priority.ANNOUNCEMENT: self.announcements.render(n)}
        for source in VOICE_SOURCES:
            buffer = self.voices[source.name]
            voice = buffer.pull(n)
            if voice is None and buffer.active:
                voice = np.zeros(n, np.float32)   # a pause between words: keep lower ones ducked
            frames[Priority[source.priority]] = voice
        if all(f is None for f in frames.values()):
            return None
        return self.mixer.mix(frames, n, self.volume)

    def silence_all(self, reason: str) -> None:
        """The sound cannot reach the street (amplifier refused, device gone): stop everything
        playing or waiting and say why; later requests play normally."""
        self.safety.cancel_all(reason)
        self.announcements.cancel_all(reason)
        self.siren.set("off", 0.0, 0.0)
        self.voices = self._new_voices()


@dataclass(frozen=True)
class AmplifierConfig:
    lease_s: float = 5.0         # each enable lapses on the MCU after this
    refresh_s: float = 2.0       # re-enable this often while sounding
    idle_off_s: float = 1.0      # disable after this long without sound


class AmplifierPlan:
    """When the megaphone's amplifier should be commanded on or off (pure; fake-clock tested)."""

    def __init__(self, config: AmplifierConfig = AmplifierConfig()) -> None:
        self.config = config
        self.on = False
        self._last_enable = -math.inf
        self._last_sound = -math.inf

    def step(self, wants_sound: bool, now: float) -> str | None:
        """'enable', 'disable' or None: the command due now."""
        if wants_sound:
            self._last_sound = now
            if not self.on or now - self._last_enable >= self.config.refresh_s:
                return "enable"
            return None
        if self.on and now - self._last_sound >= self.config.idle_off_s:
            return "disable"
        return None

    def enabled(self, now: float) -> None:
        self.on, self._last_enable = True, now

    def disabled(self) -> None:
        self.on = False
        self._last_enable = -math.inf
