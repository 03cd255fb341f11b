"""Station ingest: what it stores, what it refuses and why (pure, no broker)."""
import json

import pytest

from robot_dog.mqtt import results, schema, signing
from robot_dog.station.ingest import Ingest, MessageRejected
from robot_dog.station.storage import EventRow, FrameRow, ResultRow, StatusRow, TelemetryRow

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
TELEMETRY = {"v": 1, "dog": "dog1", "seq": 3, "ts": 1.0}
EVENT = {"v": 1, "dog": "dog1", "ts": 1.0, "id": "abcd1234-1", "type": "estop", "severity": "critical"}
DOG1_KEY = signing.new_key()


def signed(doc, key=DOG1_KEY) -> dict:
    doc = {k: v for k, v in doc.items() if k not in ("sig", "v")}
    return json.loads(results.sign(key, doc.pop("dog"), doc.pop("ts"), **doc))


RESULT = signed({"dog": "dog1", "ts": 1.0, "code": "ok", "nonce": "n" * 22, "verb": "siren"})


def enc(doc) -> bytes:
    return json.dumps(doc).encode()


def keys(dog):
    return DOG1_KEY.public_key() if dog == "dog1" else None


def test_every_kind_becomes_rows():
    ingest = Ingest(result_key=keys)
    rows, frame = ingest.handle("patrol/v1/dog1/telemetry", enc(TELEMETRY), 5.0)
    assert rows == [TelemetryRow("dog1", 5.0, TELEMETRY, enc(TELEMETRY).decode())] and frame is None
    rows, _ = ingest.handle("patrol/v1/dog1/status", b"offline", 6.0)
    assert rows == [StatusRow("dog1", "offline", 6.0)]
    rows, frame = ingest.handle("patrol/v1/dog1/video/bodycam", JPEG, 7.0)
    assert rows == [FrameRow("dog1", "bodycam", len(JPEG), 7.0)]
    assert frame is not None and frame.jpeg == JPEG and frame.camera == "bodycam"
    assert ingest.handle("patrol/v1/dog1/events", enc(EVENT), 8.0)[0] == [EventRow("dog1", 8.0, EVENT)]
    assert ingest.handle("patrol/v1/dog1/cmd/result", enc(RESULT), 9.0)[0] == [ResultRow("dog1", 9.0, RESULT)]
    no_nonce = signed({k: v for k, v in RESULT.items() if k not in ("nonce", "ok")})
    assert ingest.handle("patrol/v1/dog1/cmd/result", enc(no_nonce), 9.0)[0] == []


@pytest.mark.parametrize("topic,payload,reason", [
    ("patrol/v2/dog1/telemetry", b"{}", "bad_topic"),
    ("patrol/v1/Dog One/telemetry", b"{}", "bad_topic"),
    ("other/v1/dog1/telemetry", b"{}", "bad_topic"),
    ("patrol/v1/dog1/secrets", b"{}", "bad_topic"),
    ("patrol/v1/+/telemetry", b"{}", "bad_topic"),
    ("patrol/v1/dog1/telemetry", b"{not json", "malformed_json"),
    ("patrol/v1/dog1/telemetry", b"[1, 2]", "schema"),
    ("patrol/v1/dog1/telemetry", b"\xff\xfe", "malformed_json"),
    ("patrol/v1/dog1/telemetry", b'{"v":1,"v":1}', "malformed_json"),
    ("patrol/v1/dog1/telemetry", b'{"x": "' + b"a" * 20000 + b'"}', "oversized"),
    ("patrol/v1/dog1/telemetry", enc({**TELEMETRY, "seq": -1}), "schema"),
    ("patrol/v1/dog1/telemetry", enc({**TELEMETRY, "battery": {"percentage": 7}}), "schema"),
    ("patrol/v1/dog1/telemetry", enc({**TELEMETRY, "dog": "dog2"}), "dog_mismatch"),
    ("patrol/v1/dog1/events", enc({**EVENT, "type": "party"}), "schema"),
    ("patrol/v1/dog1/events", enc({**EVENT, "dog": "dog2"}), "dog_mismatch"),
    ("patrol/v1/dog1/cmd/result", enc({**RESULT, "ok": "yes"}), "schema"),
    ("patrol/v1/dog1/cmd/result", enc({k: v for k, v in RESULT.items() if k != "sig"}), "unsigned_result"),
    ("patrol/v1/dog1/cmd/result", enc({**RESULT, "code": "failed"}), "bad_result_signature"),
    ("patrol/v1/dog1/cmd/result", enc(signed(RESULT, signing.new_key())), "bad_result_signature"),
    ("patrol/v1/dog2/cmd/result", enc(signed({**RESULT, "dog": "dog2"})), "no_result_key"),
    ("patrol/v1/dog1/status", b"maybe", "bad_status"),
    ("patrol/v1/dog1/video/bodycam", b"GIF89a", "bad_frame"),
    ("patrol/v1/dog1/video/bodycam", b"\xff\xd8" + b"\0" * (schema.MAX_BINARY_BYTES[schema.Kind.VIDEO]), "oversized"),
    ("patrol/v1/dog1/cmd/siren", b"{}", "unhandled_topic"),
    ("patrol/v1/dog1/audio/mic", b"\0\0", "unhandled_topic"),
])
def test_bad_messages_are_refused_with_a_reason(topic, payload, reason):
    with pytest.raises(MessageRejected) as err:
        Ingest(result_key=keys).handle(topic, payload, 0.0)
    assert err.value.code == reason
