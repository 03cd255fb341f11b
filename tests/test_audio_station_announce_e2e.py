"""A signed `announce` from the station plays on the dog: station HTTP API -> signed command over
the secured Mosquitto -> uplink_node -> Announce goal -> megaphone_node -> speaker, recorded
back from the speaker's monitor."""
from __future__ import annotations

import sys
import uuid

import pytest

from robot_dog.station.app import Station, StationConfig
from tests.fixtures.accounts import api_token
from tests.fixtures.audio import MonitorRecorder, loud_seconds
from tests.support import free_port, wait_for
from tests.test_station_secure_e2e import Api, uplink

pytestmark = pytest.mark.slow


def test_signed_announce_plays_on_the_dog(virtual_audio, make_secure_broker, children, tmp_path) -> None:
    dog = f"dog{uuid.uuid4().hex[:6]}"  # the dog ID and its ROS namespace: this run's own
    broker = make_secure_broker((dog,), ("station",))
    http_port = free_port()
    station = Station(StationConfig(broker.host, broker.port, tmp_path / "st.db", http_port,
                                    fleet_dir=broker.fleet.root)).start()
    uplink(children, broker, dog, f"/{dog}", tmp_path)
    children.spawn(sys.executable, "-m", "robot_dog.audio.megaphone_node", "--ros-args",
                   "-r", f"__ns:=/{dog}", "-p", "amplifier:=false",
                   stdout=open(tmp_path / "megaphone.log", "w"))
    api = Api(http_port, api_token(station.accounts))
    recorder = MonitorRecorder()
    try:
        def announce():
            status, body = api.command(dog, "announce", {"text": "请让开，谢谢。", "language": "cmn"})
            return body if status == 200 and body["result"]["code"] == "ok" else None
        body = wait_for(announce, "the dog to accept the announcement (discovery)", timeout_s=90)
        assert body["result"]["message"] == "announce accepted"
        wait_for(lambda: loud_seconds(recorder.samples(), threshold=0.02) > 0.5,
                 "the announcement at the speaker's monitor", timeout_s=30)
        status, body = api.command(dog, "announce", {"text": "hello", "language": "fr"})
        assert (status, body["code"]) == (400, "bad_args"), body   # the registry's, before signing
    finally:
        recorder.stop()
        station.stop()
