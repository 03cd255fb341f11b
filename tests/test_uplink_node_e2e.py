"""A running dog survives a poison command: mosquitto_pub (a station credential, as a
compromised broker or station user could) sends a 2 KB message of 1,000 nested brackets to
uplink_node's cmd/ topics on a real secured Mosquitto; the dog refuses it, then executes a
signed command from the station (uplink_node -> payload_node -> virtual MCU on a pty), answers
one over the payload's limit with payload_node's code, and its telemetry keeps arriving. Before the bounded decoder, RecursionError ended paho's network
thread: no command and no telemetry any more, while the process looked alive.
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from functools import partial

import pytest

from robot_dog.mqtt import topics
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.firmware import PayloadNodeProcess
from tests.support import free_port
from tests.test_station_secure_e2e import Api
from tests.test_viewer_commands import light, spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)
NESTED = b"[" * 1000 + b"]" * 1000


def latest_telemetry(api: Api) -> dict:
    """dog1's newest telemetry at the station ({} before there is any)."""
    try:
        return api.get("/api/dogs/dog1/telemetry")
    except OSError:
        return {}


def test_nested_json_to_a_running_dog_then_a_signed_command_runs(secure_broker, virtual_mcu,
                                                                 children, tmp_path):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    http_port, fleet_dir=secure_broker.fleet.root)).start()
    payload = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log", namespace=namespace)
    uplink = spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path)
    api = Api(http_port, api_token(station.accounts))
    seq = lambda: api.get("/api/dogs/dog1/telemetry")["seq"]
    try:
        wait_for(lambda: light(api).get("pattern"), "dog1 telemetry with the police light state")
        for verb in ("police_light", "estop"):
            done = subprocess.run(["mosquitto_pub", *secure_broker.cli_args("station2"), "-q", "1",
                                   "-t", topics.cmd("dog1", verb), "-s"], input=NESTED,
                                  capture_output=True, timeout=30)
            assert done.returncode == 0, done.stderr
        log = tmp_path / "uplink_dog1.log"
        wait_for(lambda: log.read_text().count(": malformed (command: nested deeper") == 2, "both refused as malformed")
        after = seq()
        # The dog's service client may still be discovering police_light/set: retry until ok.
        wait_for(lambda: api.command("dog1", "police_light", {"pattern": "flash"})[1]
                 .get("result", {}).get("code") == "ok", "a signed command executed")
        wait_for(lambda: light(api).get("pattern") == "flash", "the light flashing in telemetry")
        # in the verb's range but over the payload's crowd limit: payload_node's own code
        # travels back (service answer -> cmd/result -> station HTTP), not a generic refusal
        status, body = api.command("dog1", "police_light", {"pattern": "alternate", "rate_hz": 3.5})
        assert status == 200 and body["result"]["code"] == "out_of_limits", body
        wait_for(lambda: seq() > after + 3, "telemetry still flowing")
        assert uplink.poll() is None
        text = log.read_text()
        assert "RecursionError" not in text and "Traceback" not in text, text[-2000:]
    finally:
        station.stop()
        payload.kill()
        children.reap()


#: Odometry whose position and velocity are NaN (a localisation not initialised yet), five
#: times; then a good one, so the test can tell the dog's telemetry went on past them.
NAN_ODOM = r"""
import math, sys, time
import robot_dog, rclpy
from nav_msgs.msg import Odometry
rclpy.init()
node = rclpy.create_node("nan_odom", namespace=sys.argv[1])
pub = node.create_publisher(Odometry, "odom", 10)
while pub.get_subscription_count() == 0:
    rclpy.spin_once(node, timeout_sec=0.1)
for i in range(6):
    msg = Odometry()
    value = math.nan if i < 5 else 7.0
    msg.pose.pose.position.x = msg.pose.pose.position.y = value
    msg.pose.pose.orientation.w = 1.0
    msg.twist.twist.linear.x = value
    pub.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.6)  # telemetry goes out at 5 Hz meanwhile
print("SENT", flush=True)
rclpy.spin(node)
"""


def test_nan_odometry_never_stops_the_dogs_telemetry(secure_broker, children, tmp_path):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    http_port, fleet_dir=secure_broker.fleet.root)).start()
    uplink = spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path)
    api = Api(http_port, api_token(station.accounts))

    telemetry = partial(latest_telemetry, api)
    try:
        wait_for(lambda: telemetry().get("seq"), "dog1 telemetry")
        odom = children.spawn(sys.executable, "-c", NAN_ODOM, namespace, stdout=subprocess.PIPE)
        assert odom.stdout.readline().strip() == "SENT"
        wait_for(lambda: telemetry().get("pose", {}).get("x") == 7.0, "the good pose after the NaN")
        after = telemetry()["seq"]
        wait_for(lambda: telemetry()["seq"] > after + 3, "telemetry still flowing")
        assert telemetry()["velocity"]["vx"] == 7.0
        assert uplink.poll() is None, "the uplink node is alive"
    finally:
        station.stop()
        children.reap()


#: A simulator's clock that stands still at 1000 s (a paused simulation): /clock every 0.1 s.
FROZEN_CLOCK = r"""
import sys, time
import rclpy
from rosgraph_msgs.msg import Clock
rclpy.init()
node = rclpy.create_node("frozen_clock", namespace=sys.argv[1])
pub = node.create_publisher(Clock, "/clock", 10)
msg = Clock()
msg.clock.sec = 1000
while True:
    pub.publish(msg)
    time.sleep(0.1)
"""


def test_on_sim_time_documents_carry_sim_ts_and_telemetry_keeps_wall_time(secure_broker, children,
                                                                          tmp_path):
    """A simulated run on sim time: telemetry names the sim instant (`sim_ts`) beside the wall
    time (`ts`) the station judges by, and keeps its wall-time rate while the sim clock stands."""
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    http_port, fleet_dir=secure_broker.fleet.root)).start()
    children.spawn(sys.executable, "-c", FROZEN_CLOCK, namespace)
    spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path, use_sim_time="true")
    api = Api(http_port, api_token(station.accounts))

    telemetry = partial(latest_telemetry, api)
    try:
        wait_for(lambda: telemetry().get("sim_ts") == 1000.0, "telemetry stamped on the sim clock")
        first = telemetry()
        assert abs(first["ts"] - time.time()) < 60          # wall time, the station's clock
        wait_for(lambda: telemetry()["seq"] > first["seq"] + 3, "telemetry on while sim time stands")
        assert telemetry()["sim_ts"] == 1000.0
    finally:
        station.stop()
        children.reap()
