"""Turns one MQTT message into storage rows and relay updates (pure, no network).

The topic must parse in the tree (robot_dog.mqtt.topics) and the payload must pass its
contract (robot_dog.mqtt.schema: size cap before parsing, strict JSON, JSON Schema). Every
other message is refused with a stable reason, counted by the caller, and the station keeps
running whatever a client publishes. A payload naming another dog than its topic is refused
too: the ACL keeps a dog in its own tree, this keeps a dog's documents honest inside it.
A command result counts only with a signature by the result key of the dog whose topic it came
on (robot_dog.mqtt.results): any station credential can write cmd/result. An event is stored
with the station's alarm policy's severity (robot_dog.alarm_policy).
"""
from __future__ import annotations

from robot_dog.errors import Refused

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from robot_dog.mqtt import results, schema, topics
from robot_dog.mqtt.topics import Kind
from robot_dog import alarm_policy
from robot_dog.station.storage import EventRow, FrameRow, ResultRow, Row, StatusRow, TelemetryRow

REASONS = ("bad_topic", "unhandled_topic", "bad_status", "bad_frame", "oversized", "too_deep",
           "malformed_json", "schema", "dog_mismatch", "unsigned_result", "bad_result_signature",
           "no_result_key", "retained_outside_status")
#: Reasons that say a credential is misused (or a dog is faulty), not merely that data is bad.
SECURITY_REASONS = frozenset({"bad_status", "unsigned_result", "bad_result_signature",
                              "no_result_key", "retained_outside_status"})


class MessageRejected(Refused, ValueError):
    """A message the station refuses; `code` is a stable short code for counters and logs (a
    dead letter keeps it in its own column, beside the words)."""


@dataclass(frozen=True)
class Frame:
    dog: str
    camera: str
    jpeg: bytes
    received: float


def _decode(name: str, dog: str, payload: bytes) -> tuple[dict, str]:
    try:
        doc, text = schema.decode_text(name, payload)
    except schema.PayloadTooLarge as exc:
        raise MessageRejected("oversized", str(exc)) from None
    except schema.TooDeep as exc:
        raise MessageRejected("too_deep", str(exc)) from None
    except schema.SchemaError as exc:
        if name == "result" and exc.field == "sig":
            raise MessageRejected("unsigned_result", str(exc)) from None
        reason = "malformed_json" if exc.reason.startswith("not valid JSON") else "schema"
        raise MessageRejected(reason, str(exc)) from None
    if doc["dog"] != dog:
        raise MessageRejected("dog_mismatch", f"payload says {doc['dog']!r} on {dog}'s topic")
    return doc, text


@lru_cache(maxsize=16384)
def parse_topic(topic: str) -> topics.Topic:
    # A fleet publishes on a few topics per dog, over and over: parse each once (pure; refused
    # topics raise and are never cached).
    return topics.parse(topic)


def event_severity(payload: bytes) -> object:
    """The severity the station's alarm policy gives an event payload (None if it does not
    parse), read before the rate limit picks the event's lane (ingest_limits.lane): the policy's,
    not the dog's own word, as in what is stored. The full check is `Ingest.handle`'s."""
    try:
        doc = schema.strict_loads(payload, schema.MAX_BYTES["event"], "event")
    except schema.SchemaError:
        return None
    return alarm_policy.classify(doc).get("severity") if isinstance(doc, dict) else None


def _no_keys(dog: str) -> Ed25519PublicKey | None:
    return None


@dataclass
class Ingest:
    #: dog -> the public key its results must verify with (None: that dog's results are refused).
    result_key: Callable[[str], Ed25519PublicKey | None] = _no_keys
    rejected: Counter[str] = field(default_factory=Counter)

    def handle(self, topic: str, payload: bytes, now: float) -> tuple[list[Row], Frame | None]:
        """Rows to store and, for video, the frame to relay. Raises MessageRejected."""
        try:
            t = parse_topic(topic)
        except topics.TopicError as exc:
            raise MessageRejected("bad_topic", str(exc)) from None
        if t.kind is Kind.TELEMETRY:
            doc, text = _decode("telemetry", t.dog, payload)
            return [TelemetryRow(t.dog, now, doc, text)], None
        if t.kind is Kind.EVENTS:
            doc = alarm_policy.classify(_decode("event", t.dog, payload)[0])
            return [EventRow(t.dog, now, doc)], None
        if t.kind is Kind.RESULT:
            doc = _decode("result", t.dog, payload)[0]
            try:
                results.verify(doc, self.result_key(t.dog))
            except results.ResultRefused as exc:
                raise MessageRejected(exc.code, str(exc)) from None
            # A result without a nonce answers something unreadable: nothing to match in the audit.
            return ([ResultRow(t.dog, now, doc)] if "nonce" in doc else []), None
        if t.kind is Kind.STATUS:
            if payload not in (topics.ONLINE, topics.OFFLINE):
                raise MessageRejected("bad_status", repr(payload[:40]))
            return [StatusRow(t.dog, payload.decode(), now)], None
        if t.kind is Kind.VIDEO:
            cap = schema.MAX_BINARY_BYTES[Kind.VIDEO]
            if len(payload) > cap:
                raise MessageRejected("oversized", f"{len(payload)} bytes > {cap}")
            if not payload.startswith(b"\xff\xd8"):
                raise MessageRejected("bad_frame", "not a JPEG")
            return ([FrameRow(t.dog, t.sub, len(payload), now)],
                    Frame(t.dog, t.sub, payload, now))
        raise MessageRejected("unhandled_topic", topic)  # commands (ours), audio (not stored yet)
