"""Station ingest: what it stores, what it refuses and why (pure, no broker)."""
import json

import pytest

from robot_dog.station.ingest import Ingest, Rejected
from robot_dog.station.storage import FrameRow, StatusRow, TelemetryRow

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


def test_telemetry_status_and_video_become_rows():
    ingest = Ingest()
    rows, frame = ingest.handle("patrol/v1/dog1/telemetry", json.dumps({"v": 1, "dog": "dog1", "seq": 3}).encode(), 5.0)
    assert rows == [TelemetryRow("dog1", 5.0, {"v": 1, "dog": "dog1", "seq": 3})] and frame is None
    rows, _ = ingest.handle("patrol/v1/dog1/status", b"offline", 6.0)
    assert rows == [StatusRow("dog1", "offline", 6.0)]
    rows, frame = ingest.handle("patrol/v1/dog1/video/bodycam", JPEG, 7.0)
    assert rows == [FrameRow("dog1", "bodycam", len(JPEG), 7.0)]
    assert frame is not None and frame.jpeg == JPEG and frame.camera == "bodycam"


@pytest.mark.parametrize("topic,payload,reason", [
    ("patrol/v2/dog1/telemetry", b"{}", "bad_topic"),
    ("patrol/v1/Dog One/telemetry", b"{}", "bad_topic"),
    ("other/v1/dog1/telemetry", b"{}", "bad_topic"),
    ("patrol/v1/dog1/telemetry", b"{not json", "malformed_json"),
    ("patrol/v1/dog1/telemetry", b"[1, 2]", "malformed_json"),
    ("patrol/v1/dog1/telemetry", b"\xff\xfe", "malformed_json"),
    ("patrol/v1/dog1/telemetry", b'{"x": "' + b"a" * 70000 + b'"}', "oversized"),
    ("patrol/v1/dog1/telemetry", b'{"dog": "dog2"}', "dog_mismatch"),
    ("patrol/v1/dog1/status", b"maybe", "bad_status"),
    ("patrol/v1/dog1/video/bodycam", b"GIF89a", "bad_frame"),
    ("patrol/v1/dog1/secrets", b"{}", "unhandled_topic"),
])
def test_bad_messages_are_refused_with_a_reason(topic, payload, reason):
    with pytest.raises(Rejected) as err:
        Ingest().handle(topic, payload, 0.0)
    assert err.value.reason == reason
