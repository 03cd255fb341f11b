"""The megaphone's live-voice sources: one topic and one publisher each, and which one wins.

| source | topic | published by | mixer priority |
|---|---|---|---|
| handheld | `megaphone/voice/handheld` | teleop_node (the officer's phone, push-to-talk) | over the station |
| station | `megaphone/voice/station` | uplink_node (station talk, `cmd/voice`) | under the officer |

Each source has a jitter buffer of its own in the megaphone (its own sequence numbers: two
talkers never drop each other's chunks as late or duplicate) and a mixer priority of its own.
When both talk, the officer's voice plays at full level and the station's is ducked by the
mixer's 20 dB, not cut: the officer stands beside the dog, sees who is addressed and what is
happening now, and must be understood first; the station sees the street through a camera a
fraction of a second late and can tell the officer by radio. The same order as motion (the
handheld input over the station's in the safety mux).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VoiceSource:
    """`priority` names a member of robot_dog.audio.mixer.Priority (a name, so the publishers
    import this table without the mixer's numpy)."""
    name: str
    publisher: str             # the one node that publishes its topic
    priority: str

    @property
    def topic(self) -> str:
        return f"megaphone/voice/{self.name}"


HANDHELD = VoiceSource("handheld", "teleop_node", "HANDHELD_VOICE")
STATION = VoiceSource("station", "uplink_node", "STATION_VOICE")
#: Every live-voice source.
VOICE_SOURCES: tuple[VoiceSource, ...] = (HANDHELD, STATION)
