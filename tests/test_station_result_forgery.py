"""Command results bind to the dog: a result counts only when the dog's own result key signed it.

Real secured Mosquitto, the real station over HTTP, and paho as the attacker with a station
user's credential ("station2": anyone holding a station password may write cmd/+, which
includes cmd/result). dog1's uplink is down, so nothing honest answers: the attacker learns the
nonce (as a compromised broker, or a logged-in reader of the audit, could) and answers the
E-STOP "ok, estop engaged" unsigned, signed with another dog's key and signed with a key of
its own. The operator's request must time out (202, not "ok"), the audit must not file any of
it, and each forgery must be dropped, counted and logged as a security event.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from functools import partial

import pytest

from robot_dog.mqtt import results, signing, topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.support import free_port

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


def test_a_station_credential_cannot_answer_for_a_dog(secure_broker, tmp_path, caplog):
    port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    port, fleet_dir=secure_broker.fleet.root)).start()
    token = api_token(station.accounts)
    auth = {"Authorization": f"Bearer {token}", "X-Operator": "alice"}
    caplog.set_level(logging.WARNING, logger="robot_dog.security")

    def api(path, data=None):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={
            **auth, "Content-Type": "application/json"}, data=data,
            method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, json.load(reply)

    client = secure_broker.paho("station2")
    try:
        wait_for(station.connected.is_set, "the station connected")
        answer: dict = {}
        operator = threading.Thread(target=lambda: answer.update(
            reply=api("/api/dogs/dog1/commands/estop?wait=8", b"{}")))
        operator.start()
        commands = lambda: api("/api/dogs/dog1/commands")[1]["commands"]
        wait_for(lambda: commands(), "the E-STOP in the audit")
        nonce = commands()[0]["nonce"]
        now = time.time()
        unsigned = {"v": 1, "dog": "dog1", "ts": now, "ok": True, "code": "ok", "nonce": nonce,
                    "verb": "estop", "message": "estop engaged"}
        dog2_key = signing.load_signing_key(secure_broker.fleet.paths.dog_result_key("dog2"))
        forgeries = [json.dumps(unsigned).encode(),
                     results.sign(dog2_key, "dog1", now, code="ok", nonce=nonce, verb="estop",
                                  message="estop engaged"),
                     results.sign(signing.new_key(), "dog1", now, code="ok", nonce=nonce,
                                  verb="estop", message="estop engaged")]
        for payload in forgeries:
            info = client.publish(topics.cmd_result("dog1"), payload, qos=1)
            info.wait_for_publish(30)
        # Delivered (the ACL lets a station user write cmd/result) and refused, each one.
        wait_for(lambda: station.ingest.rejected["unsigned_result"] >= 1
                 and station.ingest.rejected["bad_result_signature"] >= 2, "forgeries refused")
        operator.join(60)
        status, body = answer["reply"]
        assert status == 202 and body["status"] == "sent", f"the caller was told {body}"
        estop = commands()[0]
        assert estop["code"] is None and estop["ok"] is None and estop["answers"] == []
        assert station.dispatcher.wait(nonce, 0) is None
        security = [r.getMessage() for r in caplog.records if r.name == "robot_dog.security"]
        assert any("unsigned_result" in m for m in security)
        assert any("bad_result_signature" in m for m in security)
        dead = station.storage.flush() and station.summary()["rejected"]
        assert dead["unsigned_result"] == 1 and dead["bad_result_signature"] == 2
    finally:
        client.loop_stop()
        client.disconnect()
        station.stop()
