"""The station shows a dog whose telemetry stopped as degraded, whatever its video does.

health() on plain numbers; then the real station on a secured Mosquitto, the dog played by
mosquitto_pub with dog1's credential: online and streaming video but silent otherwise.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from functools import partial

from robot_dog.mqtt import topics
from robot_dog.station import web
from robot_dog.station.app import Station, StationConfig
from robot_dog.station.web import health
from tests import support
from tests.fixtures.accounts import api_token
from tests.support import free_port

wait_for = partial(support.wait_for, timeout_s=60.0)
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64


def test_health_from_status_and_last_seen():
    limit = web.DEGRADED_AFTER_S
    assert health("online", 100.0, 100.0 + limit) == "online"
    assert health("online", 100.0, 100.0 + limit + 0.1) == "degraded"
    assert health("online", None, 100.0) == "degraded"
    assert health("offline", 0.0, 1e9) == "offline" and health("unknown", None, 5.0) == "unknown"


def test_a_dog_streaming_video_without_telemetry_is_degraded(secure_broker, tmp_path, monkeypatch):
    monkeypatch.setattr(web, "DEGRADED_AFTER_S", 1.0)
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    token = api_token(station.accounts)

    def dog1() -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/fleet",
                                     headers={"Authorization": f"Bearer {token}"})
        return next(d for d in json.load(urllib.request.urlopen(req, timeout=10))["dogs"]
                    if d["dog"] == "dog1")

    def pub(topic: str, payload: bytes, *extra: str) -> None:
        done = subprocess.run(["mosquitto_pub", *secure_broker.cli_args("dog1"), "-t", topic,
                               *extra, "-s"], input=payload, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr

    try:
        wait_for(station.connected.is_set, "the station connected")
        pub(topics.status("dog1"), topics.ONLINE, "-r", "-q", "1")
        wait_for(lambda: dog1()["status"] == "online", "dog1 online")

        def video_only() -> bool:
            pub(topics.video("dog1", "bodycam"), JPEG)
            return dog1()["health"] == "degraded"
        wait_for(video_only, "dog1 degraded while its video flows", interval_s=0.2)
        assert dog1()["frames"] > 0 and dog1()["status"] == "online"
        doc = {"v": 1, "dog": "dog1", "seq": 1, "ts": time.time()}
        pub(topics.telemetry("dog1"), json.dumps(doc).encode(), "-q", "1")
        wait_for(lambda: dog1()["health"] == "online", "healthy again with telemetry")
    finally:
        station.stop()
