"""The dog's MQTT session stays alive: a poison message cannot end its network thread, and a
session whose thread is gone anyway is noticed and restarted.

Core (uplink/liveness.py) on a fake clock; the session on a real secured Mosquitto with
mosquitto_pub as the foreign publisher and the real station as the receiver of telemetry.
"""
from __future__ import annotations

import subprocess
import time
from collections import Counter
from functools import partial

from robot_dog.mqtt import signing, topics
from robot_dog.station.app import Station, StationConfig
from robot_dog.uplink.liveness import LinkWatch
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from robot_dog.uplink.telemetry import TelemetryState
from tests import support
from tests.support import free_port

wait_for = partial(support.wait_for, timeout_s=60.0)
#: 1,000 nested arrays in 2 KB: RecursionError in CPython's JSON parser.
NESTED = b"[" * 1000 + b"]" * 1000


# --- core --------------------------------------------------------------------------------------
def test_watch_restarts_only_a_connected_session_that_acks_nothing_queued():
    watch = LinkWatch(stall_s=10.0)
    assert not watch.due(0.0, connected=True, backlog=5)        # first look: starts the clock
    assert not watch.due(10.0, connected=True, backlog=5)       # exactly stall_s: not yet
    assert watch.due(10.5, connected=True, backlog=5) and watch.restarts == 1
    assert not watch.due(15.0, connected=True, backlog=5)       # one verdict per stall_s
    assert watch.due(21.0, connected=True, backlog=5) and watch.restarts == 2


def test_watch_leaves_alone_a_link_that_acks_is_idle_or_is_down():
    watch = LinkWatch(stall_s=10.0)
    watch.due(0.0, connected=True, backlog=1)
    for t in range(1, 100):
        watch.progress(float(t))                                  # a PUBACK each second
        assert not watch.due(t + 0.5, connected=True, backlog=3)
    assert not watch.due(500.0, connected=True, backlog=0)     # nothing queued
    assert not watch.due(1000.0, connected=False, backlog=50)  # down: the client reconnects
    assert not watch.due(1005.0, connected=True, backlog=50)   # clock restarted on reconnect
    assert watch.restarts == 0


# --- a real session ----------------------------------------------------------------------------
def _dog(broker, tmp_path, **kw) -> tuple[UplinkSession, list[signing.Command]]:
    paths, got = broker.fleet.paths, []
    cfg = UplinkConfig(dog="dog1", host=broker.host, port=broker.port,
                       password=broker.password("dog1"), ca_file=paths.dog_ca_cert("dog1"),
                       command_public_key=paths.dog_public_key("dog1"),
                       state_dir=tmp_path / "dog1-state", reconnect_s=(1.0, 2.0), **kw)
    return UplinkSession(cfg, on_command=got.append).start(), got


def _station(broker, tmp_path) -> Station:
    return Station(StationConfig(broker.host, broker.port, tmp_path / "st.db", free_port(),
                                 fleet_dir=broker.fleet.root)).start()


def _pub(broker, topic: str, payload: bytes) -> None:
    done = subprocess.run(["mosquitto_pub", *broker.cli_args("station2"), "-q", "1", "-t", topic,
                           "-s"], input=payload, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_nested_json_command_is_refused_and_the_dog_still_obeys_and_reports(secure_broker,
                                                                            tmp_path):
    station = _station(secure_broker, tmp_path)
    dog, commands = _dog(secure_broker, tmp_path)
    state = TelemetryState("dog1")
    try:
        wait_for(lambda: dog.connected and station.connected.is_set(), "both connected")
        _pub(secure_broker, topics.cmd("dog1", "estop"), NESTED)
        wait_for(lambda: dog.rejected["malformed"] == 1, "the nested message refused")
        assert dog.link.callback_errors == {}
        key = signing.load_signing_key(secure_broker.command_key("dog1"))
        _pub(secure_broker, topics.cmd("dog1", "estop"), signing.sign(
            key, dog="dog1", verb="estop", args={}, now=time.time(), issuer="station"))
        wait_for(lambda: [c.verb for c in commands] == ["estop"], "the signed e-stop accepted")
        for _ in range(3):
            dog.put_telemetry(state.snapshot(time.time()))
        wait_for(lambda: len(station.storage.telemetry_seqs("dog1")) == 3, "telemetry stored")
    finally:
        dog.stop()
        station.stop()


def test_a_session_whose_network_thread_died_is_restarted(secure_broker, tmp_path):
    station = _station(secure_broker, tmp_path)
    dog, _ = _dog(secure_broker, tmp_path, stall_s=1.0)
    state = TelemetryState("dog1")
    try:
        wait_for(lambda: dog.connected and station.connected.is_set(), "both connected")
        dog.link._client.loop_stop()  # the network thread ends; the link still says connected
        assert dog.connected
        dog.put_telemetry(state.snapshot(time.time()))
        wait_for(lambda: dog.check_liveness(), "the watch to restart the session")
        wait_for(lambda: station.storage.telemetry_seqs("dog1") == [1], "telemetry after it")
        assert dog.watch.restarts == 1
    finally:
        dog.stop()
        station.stop()


# --- a callback under a context that goes away -----------------------------------------------
def test_a_callback_failing_because_the_node_shuts_down_is_not_an_error():
    """SIGTERM shuts the context down while a timer callback asks for a service: rclpy raises
    RCLError ("context is invalid"); that is the node ending, not a fault worth a traceback."""
    from types import SimpleNamespace

    import rclpy
    from rclpy.context import Context
    from rclpy.logging import get_logger

    from robot_dog.uplink.node import UplinkNode

    context = Context()
    rclpy.init(context=context)
    node = SimpleNamespace(context=context, handler_errors=Counter(),
                           get_logger=lambda: get_logger("test_uplink_guard"))

    def fails() -> None:
        raise RuntimeError("context is invalid")
    guarded = UplinkNode._guarded(node, "telemetry", fails)  # type: ignore[arg-type]
    guarded()
    assert node.handler_errors == {"telemetry:RuntimeError": 1}   # running: counted and logged
    context.shutdown()
    guarded()
    assert node.handler_errors == {"telemetry:RuntimeError": 1}   # shut down: neither
