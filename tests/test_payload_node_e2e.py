"""payload_node in its own process, the virtual MCU on a pty, ROS service calls from this process.

Real rclpy across processes with localhost-only discovery; waits are generous end-to-end
timeouts. The heartbeat-loss test kills the node with SIGKILL and requires the MCU's safe state
within 1 s (the MCU's watchdog is 0.5 s).
"""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from robot_dog_interfaces.msg import EstopState, PoliceLightState, SearchlightState
from robot_dog_interfaces.srv import SetPoliceLight, SetSearchlight
from sensor_msgs.msg import BatteryState

from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModelConfig
from robot_dog.ros import qos
from tests.fixtures.firmware import PayloadNodeProcess
from tests.fixtures.ros_nodes import answer
from tests.support import wait_for

pytestmark = pytest.mark.slow


class RosClient:
    def __init__(self, namespace: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("payload_test_client", namespace=namespace,
                                      context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.light = self.node.create_client(SetPoliceLight, "police_light/set")
        self.searchlight = self.node.create_client(SetSearchlight, "searchlight/set")
        self.estop = self.node.create_publisher(EstopState, "estop", qos.STATE)
        self.got: dict[type, list] = {PoliceLightState: [], SearchlightState: [],
                                      BatteryState: [], DiagnosticArray: []}
        for msg_type, topic, profile in ((PoliceLightState, "police_light/state", qos.STATE),
                                         (SearchlightState, "searchlight/state", qos.STATE),
                                         (BatteryState, "battery", qos.TELEMETRY),
                                         (DiagnosticArray, "/diagnostics", qos.TELEMETRY)):
            self.node.create_subscription(msg_type, topic, self.got[msg_type].append, profile)

    def call(self, client, request, timeout: float = 30.0):
        """Every payload request is idempotent (a state to set), so one sent again after a
        silence (`answer`: in two fresh-clone CI runs the first call after discovery went
        unanswered for 20 s) does no harm."""
        assert client.wait_for_service(timeout_sec=30.0), "payload_node services never appeared"
        return answer(client, request, self.spin_until, timeout)

    def spin_until(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def ros(ros_namespace) -> Iterator[RosClient]:
    client = RosClient(ros_namespace)
    try:
        yield client
    finally:
        client.close()


def test_lights_and_searchlight_switch_through_ros(virtual_mcu, payload_node_process, ros) -> None:
    reply = ros.call(ros.light, SetPoliceLight.Request(pattern="alternate", rate_hz=1.5,
                                                       duration_s=30.0, caller="王警官"))
    assert reply.accepted, reply.message + payload_node_process.output()
    snap = virtual_mcu.snapshot()
    assert (snap["light_pattern"], snap["light_rate_hz"]) == ("alternate", 1.5)
    # the node's own log names the person behind the request
    wait_for(lambda: "police light alternate 1.5 Hz by 王警官: ok" in payload_node_process.output(),
             "payload_node's log line naming the caller", 30)

    reply = ros.call(ros.searchlight, SetSearchlight.Request(level=0.6, strobe=False,
                                                             duration_s=30.0))
    assert reply.accepted, reply.message
    assert virtual_mcu.snapshot()["searchlight_level"] == pytest.approx(0.6)

    # refused with a code and words, nothing changes on the MCU
    for request, words in ((SetPoliceLight.Request(pattern="flash", rate_hz=50.0), "4 Hz"),
                           (SetPoliceLight.Request(pattern="alternate", rate_hz=3.5), "3 Hz")):
        reply = ros.call(ros.light, request)
        assert (reply.accepted, reply.code) == (False, "out_of_limits") and words in reply.message
    reply = ros.call(ros.searchlight, SetSearchlight.Request(level=3.0))
    assert (reply.accepted, reply.code) == (False, "out_of_limits") and "outside 0..1" in reply.message
    snap = virtual_mcu.snapshot()
    assert (snap["light_pattern"], snap["searchlight_level"]) == ("alternate", pytest.approx(0.6))

    # state and power topics from MCU telemetry
    assert ros.spin_until(lambda: any(m.pattern == "alternate" for m in ros.got[PoliceLightState])
                          and any(abs(m.level_actual - 0.6) < 1e-3
                                  for m in ros.got[SearchlightState])
                          and ros.got[BatteryState] and ros.got[DiagnosticArray], 20.0)
    battery = ros.got[BatteryState][-1]
    assert 20.0 < battery.voltage < 26.0 and battery.current < 0 and 0 < battery.percentage <= 1
    # ROS convention: one "<node>: <part>" prefix, a hardware_id, the host's link counters
    status = {s.name: s for s in ros.got[DiagnosticArray][-1].status}
    assert set(status) == {"payload: battery", "payload: searchlight", "payload: amplifier",
                           "payload: mcu"}
    assert {s.hardware_id for s in status.values()} == {f"{ros.node.get_namespace()}/payload_mcu"}
    mcu = {kv.key: kv.value for kv in status["payload: mcu"].values}
    assert {"host_bad_frames", "telemetry_lost", "resends"} <= set(mcu)


def test_estop_makes_payload_safe_and_refuses(virtual_mcu, payload_node_process, ros) -> None:
    assert ros.call(ros.light, SetPoliceLight.Request(pattern="flash", duration_s=30.0)).accepted
    ros.estop.publish(EstopState(engaged=True, reason="test"))
    snap = virtual_mcu.wait_for(lambda s: "COMMANDED" in s["safe_reasons"], timeout=20.0)
    assert snap is not None and snap["light_pattern"] == "steady"
    reply = ros.call(ros.light, SetPoliceLight.Request(pattern="flash"))
    assert (reply.accepted, reply.code) == (False, "estop_engaged") and "e-stop" in reply.message
    ros.estop.publish(EstopState(engaged=False))
    assert virtual_mcu.wait_for(lambda s: not s["safe"], timeout=20.0) is not None
    assert ros.call(ros.light, SetPoliceLight.Request(pattern="flash")).accepted


def test_diagnostics_go_stale_when_mcu_unplugged(virtual_mcu, payload_node_process, ros) -> None:
    assert ros.spin_until(lambda: ros.got[DiagnosticArray], 30.0)
    virtual_mcu.unplug(60.0)
    stale = bytes([3])
    assert ros.spin_until(lambda: ros.got[DiagnosticArray] and all(
        s.level == stale for s in ros.got[DiagnosticArray][-1].status), 10.0)
    # a request the MCU cannot apply says why as a code: the link is down, or no ACK came
    reply = ros.call(ros.light, SetPoliceLight.Request(pattern="flash", duration_s=10.0))
    assert not reply.accepted and reply.code in ("mcu_link_down", "mcu_timeout"), reply
    assert reply.message


def test_diagnostics_go_stale_when_telemetry_arrives_late(virtual_mcu, payload_node_process,
                                                          ros) -> None:
    """Frames keep arriving every 100 ms, each 1.2 s late: judged on the MCU's clock, stale."""
    stale = bytes([3])
    assert ros.spin_until(lambda: ros.got[DiagnosticArray] and not any(
        s.level == stale for s in ros.got[DiagnosticArray][-1].status), 30.0)
    virtual_mcu.faults.delay_s = 1.2
    assert ros.spin_until(lambda: all(
        s.level == stale for s in ros.got[DiagnosticArray][-1].status), 20.0)
    virtual_mcu.faults.delay_s = 0.0
    assert ros.spin_until(lambda: not any(
        s.level == stale for s in ros.got[DiagnosticArray][-1].status), 20.0)


def test_diagnostics_are_stale_when_telemetry_is_late_from_the_first_frame(
        virtual_mcu, tmp_path, ros) -> None:
    """A lag present before payload_node starts (the uptime rule's baseline would absorb it):
    the heartbeat echo shows it, so the node reports STALE, never a fresh-looking age."""
    virtual_mcu.faults.delay_s = 1.5
    node = PayloadNodeProcess(virtual_mcu.link, tmp_path / "late.log", ros.node.get_namespace())
    try:
        stale = bytes([3])

        def since_telemetry() -> list:
            arrays = ros.got[DiagnosticArray]
            first = next((i for i, m in enumerate(arrays)
                          if not any("telemetry from the MCU yet" in s.message for s in m.status)),
                         None)
            return [] if first is None else arrays[first:]
        assert ros.spin_until(lambda: len(since_telemetry()) >= 4, 40.0)   # 4 s of telemetry
        for array in since_telemetry():
            assert all(s.level == stale for s in array.status), [
                (s.name, s.message) for s in array.status]
    finally:
        node.kill()


def test_sigkill_of_host_gives_safe_state_within_1s(virtual_mcu, payload_node_process,
                                                    ros) -> None:
    assert ros.call(ros.light, SetPoliceLight.Request(pattern="alternate", duration_s=60.0)).accepted
    assert virtual_mcu.snapshot()["safe"] is False
    killed_at = time.monotonic()
    payload_node_process.kill(signal.SIGKILL)
    snap = virtual_mcu.wait_for(lambda s: s["safe"], timeout=5.0, interval=0.005)
    took = time.monotonic() - killed_at
    assert snap is not None, "MCU never entered the safe state"
    assert took <= 1.0, f"safe state after {took:.2f} s"
    assert snap["safe_reasons"] == ["HEARTBEAT_LOST"]
    assert (snap["light_pattern"], snap["amp_enabled"], snap["searchlight_strobe"]) == \
        ("steady", False, False)


@pytest.fixture
def hot_mcu(tmp_path) -> Iterator[VirtualMcu]:
    """Thermal physics 40x faster: the searchlight heats up within a second or two."""
    mcu = VirtualMcu(tmp_path / "hot_mcu", McuModelConfig(time_scale=40.0), seed=5).start()
    try:
        yield mcu
    finally:
        mcu.stop()


def test_searchlight_derates_from_mcu_temperature(hot_mcu, tmp_path, ros) -> None:
    node = PayloadNodeProcess(hot_mcu.link, tmp_path / "node.log", ros.node.get_namespace())
    try:
        reply = ros.call(ros.searchlight, SetSearchlight.Request(level=1.0, duration_s=600.0))
        assert reply.accepted, reply.message
        assert ros.spin_until(lambda: any(m.derating and m.level_actual < 0.9
                                          for m in ros.got[SearchlightState]), 30.0), \
            node.output()
        state = [m for m in ros.got[SearchlightState] if m.derating][-1]
        assert state.level_requested == pytest.approx(1.0)     # the request is kept
        assert state.temperature_c > 60.0                       # derating starts at 60 degC
        assert hot_mcu.snapshot()["searchlight_level"] < 0.9
        assert "SEARCHLIGHT_OVERTEMP" not in hot_mcu.snapshot()["faults"]  # host acted first
    finally:
        node.kill()


def test_estop_holds_across_many_sessions_of_the_sequence_counter(virtual_mcu, tmp_path,
                                                                  ros) -> None:
    """Command numbers start 3 short of 65535 in every session (injected `first_seq`), so the
    node's counter runs out and starts a new session every few commands. Version 1 of the
    protocol lost the e-stop once its one shared counter had moved 32,768 frames."""
    node = PayloadNodeProcess(virtual_mcu.link, tmp_path / "node.log", ros.node.get_namespace(),
                              first_seq=65533)
    try:
        for round_ in range(4):
            reply = ros.call(ros.light, SetPoliceLight.Request(pattern="alternate",
                                                               duration_s=60.0))
            assert reply.accepted, reply.message + node.output()
            assert virtual_mcu.snapshot()["light_pattern"] == "alternate"
            ros.estop.publish(EstopState(engaged=True, reason=f"round {round_}"))
            snap = virtual_mcu.wait_for(lambda s: "COMMANDED" in s["safe_reasons"], timeout=20.0)
            assert snap is not None, node.output()
            assert (snap["light_pattern"], snap["searchlight_strobe"]) == ("steady", False)
            refused = ros.call(ros.searchlight, SetSearchlight.Request(level=0.5, strobe=True))
            assert (refused.accepted, refused.code) == (False, "estop_engaged")
            ros.estop.publish(EstopState(engaged=False))
            assert virtual_mcu.wait_for(lambda s: not s["safe"], timeout=20.0) is not None
        assert virtual_mcu.snapshot()["sessions"] >= 4, node.output()
        ros.estop.publish(EstopState(engaged=True, reason="final"))
        snap = virtual_mcu.wait_for(lambda s: "COMMANDED" in s["safe_reasons"], timeout=20.0)
        assert snap is not None and snap["safe"] and snap["light_pattern"] == "steady"
        wait_for(lambda: "payload safe (confirmed by MCU telemetry)" in node.output(),
                 "the node to report the payload safe on the MCU's word", 20.0)
    finally:
        node.kill()


def test_requests_that_reduce_output_are_accepted_during_estop(virtual_mcu, payload_node_process,
                                                               ros) -> None:
    reply = ros.call(ros.searchlight, SetSearchlight.Request(level=0.8, duration_s=600.0))
    assert reply.accepted, reply.message
    assert ros.call(ros.light, SetPoliceLight.Request(pattern="flash", duration_s=60.0)).accepted
    ros.estop.publish(EstopState(engaged=True, reason="test"))
    assert virtual_mcu.wait_for(lambda s: "COMMANDED" in s["safe_reasons"], timeout=20.0)
    for request in (SetSearchlight.Request(level=0.9, duration_s=60.0),
                    SetSearchlight.Request(level=0.5, duration_s=3600.0)):
        reply = ros.call(ros.searchlight, request)       # more light, or light for longer
        assert (reply.accepted, reply.code) == (False, "estop_engaged")
    reply = ros.call(ros.searchlight, SetSearchlight.Request(level=0.3, duration_s=60.0))
    assert reply.accepted, reply.message                  # lower and no longer
    assert virtual_mcu.snapshot()["searchlight_level"] == pytest.approx(0.3)
    reply = ros.call(ros.searchlight, SetSearchlight.Request(level=0.0))
    assert reply.accepted, reply.message                  # off
    reply = ros.call(ros.light, SetPoliceLight.Request(pattern="off"))
    assert reply.accepted, reply.message
    snap = virtual_mcu.snapshot()
    assert (snap["searchlight_level"], snap["light_pattern"]) == (0.0, "off")
