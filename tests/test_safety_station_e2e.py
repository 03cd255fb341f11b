"""The station as a watched e-stop endpoint, end to end: the station and uplink_node over the
secured Mosquitto (fleet credentials, signed commands and check-ins), safety_node and the echo
base as processes, a ROS probe standing in for the patrol."""
from __future__ import annotations

import time
from functools import partial

import pytest
from robot_dog_interfaces.srv import EstopEngage

from robot_dog.mqtt import signing, topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.test_safety_node_e2e import Driver, start, vx
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)


def test_station_checkins_resume_release_ordering_and_a_cut_station_link(
        secure_broker, children, safety_chain, ros_probe, dog_namespace, tmp_path):
    probe = ros_probe
    start(probe)
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root)).start()
    stopped = False
    try:
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        api = Api(station.http.port, api_token(station.accounts))
        wait_for(lambda: "station" in probe.messages("estop")[-1].endpoints,
                 "the station checking in (signed, over MQTT)")
        patrol = Driver(probe, "patrol")
        patrol.vx = 0.2
        resumed = wait_for(lambda: (r := api.command("dog1", "resume", {"input": "patrol"}))[0] == 200
                           and r[1]["result"]["code"] == "ok" and r, "the station's resume")
        assert resumed[1]["result"]["code"] == "ok"
        wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel")), "the patrol driving")

        # a release signed 1 s before the e-stop, held back and delivered 2 s after it: refused
        key = signing.load_signing_key(secure_broker.command_key("dog1"))
        signed_at = time.time()
        early = signing.sign(key, dog="dog1", verb="estop_release", args={}, now=signed_at,
                             issuer="mallory", ttl_s=10.0, nonce=(nonce := signing.new_nonce()))
        time.sleep(1.0)
        assert probe.call(EstopEngage, "estop/engage", endpoint="station", reason="viewer").accepted
        time.sleep(2.0)
        station.link.publish(topics.cmd("dog1", "estop_release"), early, 1)
        result = wait_for(lambda: station.dispatcher.wait(nonce, 1.0), "the held-back release's result")
        assert result["code"] == "release_before_hold" and not result["ok"], result
        assert probe.messages("estop")[-1].engaged
        status, body = api.command("dog1", "estop_release", {})      # a fresh one frees it
        assert status == 200 and body["result"]["code"] == "ok", body
        released = time.monotonic()
        time.sleep(1.5)
        assert [v for v in vx(probe.messages("cmd_vel", since=released)) if v] == []  # paused
        assert probe.messages("base/state")[-1].mode == "sit"          # held > 2 s: it sat
        status, body = api.command("dog1", "mode", {"mode": "stand"})   # deliberate stand
        assert status == 200 and body["result"]["code"] == "ok", body
        wait_for(lambda: api.command("dog1", "resume", {"input": "patrol"})[1]["result"]["code"]
                 == "ok", "resumed again")
        wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel", since=released)), "driving again")

        # the station's link is cut: its check-ins stop, the dog holds within the 2 s deadline
        cut = time.monotonic()
        station.stop()
        stopped = True
        state = wait_for(lambda: [m for m in probe.messages("estop", since=cut) if m.engaged],
                         "the lost station's hold")[-1]
        assert "station" in state.stale_endpoints and "station missed its 2 s deadline" in state.reason
        wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=cut)), "zero")
        zero_at = vx(probe.messages("cmd_vel", since=cut)).index(0.0)
        time.sleep(1.0)
        assert set(vx(probe.messages("cmd_vel", since=cut))[zero_at:]) <= {0.0}
        patrol.stop()
    finally:
        if not stopped:
            station.stop()
