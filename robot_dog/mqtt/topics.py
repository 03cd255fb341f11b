"""The MQTT topic tree (docs/mqtt.md, docs/asyncapi.yaml), as builders and a strict parser.

    patrol/v1/{dog}/status            retained "online"/"offline" (Last Will)
    patrol/v1/{dog}/telemetry         JSON, 1-10 Hz
    patrol/v1/{dog}/video/{camera}    JPEG per message, QoS 0, expiry ~2 s
    patrol/v1/{dog}/audio/{source}    audio chunks
    patrol/v1/{dog}/events            JSON, QoS 1
    patrol/v1/{dog}/cmd/{verb}        signed JSON command, QoS 1, station -> dog
    patrol/v1/{dog}/cmd/result        JSON ack of a command, dog -> station
    patrol/v1/{dog}/cmd/voice         Opus voice packets, station -> dog, only inside a `talk`
    patrol/v1/{dog}/evidence/{part}   recorded evidence, dog -> station, QoS 1, lowest outbox
                                      class: `manifest` (a signed manifest) or `chunk` (a piece
                                      of a segment or still); the station acknowledges verified
                                      items with the signed command `evidence_ack`

Names are checked on the way in (builders) and on the way out (parse), so a topic that does not
belong to the tree never reaches a handler. `result` and `voice` are reserved under cmd/: they
are not verbs (voice lives there because the fleet ACL lets only stations write cmd/ and the dog
read it).
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import NamedTuple

from robot_dog.mqtt.errors import MqttLinkError

ROOT = "patrol/v1"
#: Dog ids double as broker user names and ACL path segments: keep them boring.
DOG_ID = re.compile(r"[a-z0-9_-]{1,32}")
#: Camera and audio source names: a fixed set each, so a dog (or a captured dog's credential)
#: can publish on a bounded number of topics; the broker ACL lists exactly these
#: (robot_dog/fleet/broker_config.py) and the station refuses any other name.
CAMERAS = ("bodycam", "front", "rear", "left", "right")
AUDIO_SOURCES = ("mic",)
#: Evidence upload parts (robot_dog/mqtt/evidence.py): the ACL lets a dog write exactly these.
EVIDENCE_PARTS = ("manifest", "chunk")
#: Command verbs, e.g. "announce", "lights", "siren", "estop".
VERB = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESULT = "result"
VOICE = "voice"

#: Status payloads (plain UTF-8, not JSON: the Last Will must be a constant).
ONLINE = b"online"
OFFLINE = b"offline"


class Kind(StrEnum):
    STATUS = "status"
    TELEMETRY = "telemetry"
    VIDEO = "video"
    AUDIO = "audio"
    EVENTS = "events"
    CMD = "cmd"
    RESULT = "result"  # patrol/v1/{dog}/cmd/result
    VOICE = "voice"    # patrol/v1/{dog}/cmd/voice
    EVIDENCE = "evidence"  # patrol/v1/{dog}/evidence/{part}


class TopicError(MqttLinkError, ValueError):
    """A topic or a name in it is outside the tree."""


class Topic(NamedTuple):
    dog: str
    kind: Kind
    sub: str | None  # camera, audio source or verb; None for the other kinds


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise TopicError(f"invalid {what} {value!r}: must match {pattern.pattern}")
    return value


def check_dog(dog: str) -> str:
    """Return `dog` if it is a valid dog id, else raise TopicError."""
    return _check(DOG_ID, dog, "dog id")


def check_verb(verb: str) -> str:
    """Return `verb` if it is a valid command verb (and not the reserved `result` or `voice`)."""
    _check(VERB, verb, "command verb")
    if verb == RESULT:
        raise TopicError("'result' is reserved (cmd/result carries acks), not a verb")
    if verb == VOICE:
        raise TopicError("'voice' is reserved (cmd/voice carries talk audio), not a verb")
    return verb


def base(dog: str) -> str:
    return f"{ROOT}/{check_dog(dog)}"


def status(dog: str) -> str:
    return f"{base(dog)}/status"


def telemetry(dog: str) -> str:
    return f"{base(dog)}/telemetry"


def _member(names: tuple[str, ...], value: str, what: str) -> str:
    if value not in names:
        raise TopicError(f"invalid {what} {value!r}: must be one of {', '.join(names)}")
    return value


def check_camera(camera: str) -> str:
    return _member(CAMERAS, camera, "camera name")


def check_audio_source(source: str) -> str:
    return _member(AUDIO_SOURCES, source, "audio source")


def check_evidence_part(part: str) -> str:
    return _member(EVIDENCE_PARTS, part, "evidence part")


def evidence(dog: str, part: str) -> str:
    return f"{base(dog)}/evidence/{check_evidence_part(part)}"


def video(dog: str, camera: str) -> str:
    return f"{base(dog)}/video/{check_camera(camera)}"


def audio(dog: str, source: str) -> str:
    return f"{base(dog)}/audio/{check_audio_source(source)}"


def events(dog: str) -> str:
    return f"{base(dog)}/events"


def cmd(dog: str, verb: str) -> str:
    return f"{base(dog)}/cmd/{check_verb(verb)}"


def cmd_result(dog: str) -> str:
    return f"{base(dog)}/cmd/{RESULT}"


def voice(dog: str) -> str:
    return f"{base(dog)}/cmd/{VOICE}"


# Subscription filters.
def dog_tree(dog: str) -> str:
    """Everything of one dog (the station's view of a single dog)."""
    return f"{base(dog)}/#"


def commands_of(dog: str) -> str:
    """What a dog subscribes to. Matches cmd/result too: `parse` tells the two apart."""
    return f"{base(dog)}/cmd/+"


def all_dogs(kind: Kind) -> str:
    """Station filter for one kind across the fleet, e.g. `patrol/v1/+/telemetry`."""
    tail = {Kind.VIDEO: "video/+", Kind.AUDIO: "audio/+", Kind.CMD: "cmd/+", Kind.EVIDENCE: "evidence/+",
            Kind.RESULT: f"cmd/{RESULT}"}.get(kind, kind.value)
    return f"{ROOT}/+/{tail}"


_LEAF_KINDS = {k.value: k for k in (Kind.STATUS, Kind.TELEMETRY, Kind.EVENTS)}
_NAMED_KINDS = {Kind.VIDEO.value: (Kind.VIDEO, check_camera),
                Kind.AUDIO.value: (Kind.AUDIO, check_audio_source),
                Kind.EVIDENCE.value: (Kind.EVIDENCE, check_evidence_part)}


def parse(topic: str) -> Topic:
    """Split a concrete topic of the tree into (dog, kind, sub); raise TopicError otherwise."""
    if not isinstance(topic, str):
        raise TopicError(f"topic must be str, not {type(topic).__name__}")
    if any(c in topic for c in "+#\0"):
        raise TopicError(f"not a concrete topic: {topic!r}")
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT:
        raise TopicError(f"outside {ROOT}/: {topic!r}")
    dog, rest = parts[2], parts[3:]
    check_dog(dog)
    if len(rest) == 1 and rest[0] in _LEAF_KINDS:
        return Topic(dog, _LEAF_KINDS[rest[0]], None)
    if len(rest) == 2 and rest[0] in _NAMED_KINDS:
        kind, check = _NAMED_KINDS[rest[0]]
        return Topic(dog, kind, check(rest[1]))
    if len(rest) == 2 and rest[0] == "cmd":
        if rest[1] == RESULT:
            return Topic(dog, Kind.RESULT, None)
        if rest[1] == VOICE:
            return Topic(dog, Kind.VOICE, None)
        return Topic(dog, Kind.CMD, check_verb(rest[1]))
    raise TopicError(f"not in the patrol tree: {topic!r}")
