"""Poison messages at the station: acknowledged once, kept in the bounded dead-letter table,
logged once per kind, never redelivered; a dog's junk status is a security event.

Real secured Mosquitto, mosquitto_pub with the dog's own credential as the attacker, the real
Station restarted on its persistent session (what used to bring the poison back every time).
"""
from __future__ import annotations

import json
import logging
import subprocess
from functools import partial

from robot_dog.mqtt import topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.support import free_port

wait_for = partial(support.wait_for, timeout_s=60.0)
NESTED = b"[" * 1000 + b"]" * 1000


def _pub(broker, user: str, topic: str, payload: bytes, *extra: str) -> None:
    done = subprocess.run(["mosquitto_pub", *broker.cli_args(user), "-q", "1", "-t", topic,
                           *extra, "-s"], input=payload, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_poison_is_dead_lettered_once_and_not_redelivered(secure_broker, tmp_path, caplog):
    config = StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                           free_port(), fleet_dir=secure_broker.fleet.root)
    station = Station(config).start()
    try:
        with caplog.at_level(logging.WARNING):
            wait_for(station.connected.is_set, "the station connected")
            _pub(secure_broker, "dog1", topics.telemetry("dog1"), NESTED)
            _pub(secure_broker, "dog1", topics.status("dog1"), b"pwned", "-r")
            wait_for(lambda: {d["reason"] for d in station.storage.dead_letters()} ==
                     {"too_deep", "bad_status"}, "both messages dead-lettered")
    finally:
        station.stop()
    logs = caplog.text
    assert "Traceback" not in logs
    assert logs.count("dead letter #1 of kind too_deep") == 1
    security = [r for r in caplog.records if r.name == "robot_dog.security"]
    assert len(security) == 1 and "patrol/v1/dog1/status" in security[0].getMessage()

    again = Station(config).start()  # the same persistent session: nothing unacked is left
    try:
        wait_for(again.connected.is_set, "the station reconnected")
        doc = {"v": 1, "dog": "dog1", "seq": 1, "ts": 1.0}
        _pub(secure_broker, "dog1", topics.telemetry("dog1"), json.dumps(doc).encode())
        wait_for(lambda: again.storage.telemetry_seqs("dog1") == [1], "good telemetry stored")
        deep = [d for d in again.storage.dead_letters() if d["reason"] == "too_deep"]
        assert len(deep) == 1 and deep[0]["size"] == len(NESTED)
        assert deep[0]["topic"] == topics.telemetry("dog1")
        assert "too_deep" not in again.ingest.rejected, "never delivered again"
    finally:
        again.stop()
