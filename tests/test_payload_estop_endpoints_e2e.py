"""The payload MCU and its e-stop button stop the dog: payload_node, safety_node and the echo base
as processes, the virtual MCU on a pty in this process, a ROS probe for state and requests.

Timing goals (button or unplug -> zero within 0.5 s) are measured by `./dev.sh bench serial`;
these tests check the wiring: the hold names the pushed cause (the button's EVENT, the lost
port, the silent link), never a lapsed check-in deadline, and the dog's command goes to zero."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from functools import partial

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from robot_dog_interfaces.msg import EstopState
from robot_dog_interfaces.srv import EstopEngage

from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModelConfig
from robot_dog.ros import dds_env, qos
from tests import support
from tests.fixtures.firmware import PayloadNodeProcess
from tests.test_safety_node_e2e import Driver, vx

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


@pytest.fixture
def payload_chain(safety_chain, virtual_mcu, dog_namespace, ros_probe, tmp_path):
    # The virtual MCU shares this test process: on a loaded machine it can stall past the
    # shipped 0.35 s silence limit and hold the dog for real. 1 s keeps these wiring tests
    # about their own cause; the limit itself is the core's test and the benchmark's figure.
    node = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log", dog_namespace,
                              mcu_silent_s=1.0)
    ros_probe.record(EstopState, "estop", qos.STATE)
    ros_probe.record(Twist, "cmd_vel", qos.COMMAND)
    ros_probe.record(DiagnosticArray, "/diagnostics", qos.TELEMETRY)
    try:
        wait_for(lambda: any("mcu" in m.endpoints for m in ros_probe.messages("estop")),
                 "payload_node checking in for the MCU")
        yield node
    finally:
        node.kill()


def release(namespace: str, endpoint: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robot_dog.cli", "teleop", "release", endpoint,
                           "--ns", namespace], env=dds_env.environ(), capture_output=True,
                          text=True, timeout=60)


def latest(probe) -> EstopState:
    return probe.messages("estop")[-1]


def driving(probe) -> Driver:
    """An operator's keyboard input at 0.3 m/s, seen on the dog's cmd_vel."""
    driver = Driver(probe, "keyboard")
    driver.vx = 0.3
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel")), "driving at 0.3 m/s")
    return driver


def stopped_after(probe, since: float) -> None:
    """After `since` the dog's command reaches zero and stays there."""
    wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=since)), "zero on cmd_vel")
    wait_for(lambda: len(probe.messages("cmd_vel", since=since)) > 10, "held zeros")
    after = vx(probe.messages("cmd_vel", since=since))
    assert set(after[after.index(0.0):]) == {0.0}, after


def mcu_status(probe):
    statuses = [s for m in probe.messages("/diagnostics") for s in m.status
                if s.name.endswith(": mcu")]
    return statuses[-1] if statuses else None


def test_the_payload_button_stops_the_dog_until_released_after_it_is_pulled_out(
        payload_chain, virtual_mcu, ros_probe, dog_namespace):
    probe = ros_probe
    assert not latest(probe).engaged
    driving(probe)
    pressed = time.monotonic()
    virtual_mcu.set_button(True)
    wait_for(lambda: latest(probe).engaged and "button: e-stop button on the payload pressed"
             in latest(probe).reason, "the button's hold")
    stopped_after(probe, pressed)
    assert virtual_mcu.snapshot()["safe"]                       # the MCU went safe on its own
    wait_for(lambda: "payload e-stop button pressed" in payload_chain.output(), "the press logged")

    asked = time.monotonic()
    held = release(dog_namespace, "button")                      # asked while still pressed
    assert held.returncode == 0 and "button released its hold" in held.stdout, held.stdout

    def released_then_engaged_again() -> bool:
        states = [m.engaged for t, m in probe.got["estop"] if t > asked]
        return False in states and True in states[states.index(False):]
    wait_for(released_then_engaged_again, "the held button asserting its hold again")

    virtual_mcu.set_button(False)
    wait_for(lambda: "payload e-stop button pulled out" in payload_chain.output(), "pulled out")
    time.sleep(1.5)   # a negative check: pulling the button out releases nothing
    assert latest(probe).engaged and "button" in latest(probe).reason
    done = release(dog_namespace, "button")
    assert done.returncode == 0 and "button released its hold" in done.stdout, done.stdout
    wait_for(lambda: not latest(probe).engaged, "released")
    wait_for(lambda: not virtual_mcu.snapshot()["safe"], "the payload live again")


def test_a_lost_payload_link_stops_the_dog_at_once_until_it_is_back_and_released(
        payload_chain, virtual_mcu, ros_probe, dog_namespace):
    probe = ros_probe
    driving(probe)
    unplugged = time.monotonic()
    virtual_mcu.unplug(8.0)
    state = wait_for(lambda: [m for m in probe.messages("estop", since=unplugged) if m.engaged],
                     "the mcu's hold")[-1]
    assert "mcu: payload link lost" in state.reason, state.reason   # pushed, not a deadline
    stopped_after(probe, unplugged)
    # while the link stays down, a release does not last: the hold is asserted again
    wait_for(lambda: "mcu" in latest(probe).stale_endpoints, "the mcu's check-in lapsing")
    early = release(dog_namespace, "mcu")
    assert early.returncode == 1 and "check in before releasing" in early.stdout, early.stdout
    wait_for(lambda: "mcu" not in latest(probe).stale_endpoints, "the MCU checking in again")
    assert latest(probe).engaged                                 # back, but still held
    done = release(dog_namespace, "mcu")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: not latest(probe).engaged, "released")


def test_a_silent_payload_link_stops_the_dog_without_waiting_for_the_deadline(
        payload_chain, virtual_mcu, ros_probe):
    probe = ros_probe
    driving(probe)
    muted = time.monotonic()
    virtual_mcu.faults.drop_rate = 1.0          # the port stays; nothing gets through
    state = wait_for(lambda: [m for m in probe.messages("estop", since=muted) if m.engaged],
                     "the mcu's hold")[-1]
    assert "mcu: payload link silent for 1 s" in state.reason, state.reason
    stopped_after(probe, muted)
    virtual_mcu.faults.drop_rate = 0.0


def test_an_mcu_reboot_under_an_estop_comes_back_safe_and_shows_as_a_reboot(
        payload_chain, virtual_mcu, ros_probe):
    probe = ros_probe
    reply = probe.call(EstopEngage, "estop/engage", endpoint="station", reason="viewer")
    assert reply.accepted
    wait_for(lambda: "COMMANDED" in virtual_mcu.snapshot()["safe_reasons"], "the payload safe")
    wait_for(lambda: mcu_status(probe) is not None, "payload diagnostics")
    boot_id = virtual_mcu.snapshot()["boot_id"]
    virtual_mcu.reboot()
    # the MCU forgot the commanded hold; payload_node sees the reboot and says it again
    wait_for(lambda: virtual_mcu.snapshot()["boot_id"] != boot_id
             and "COMMANDED" in virtual_mcu.snapshot()["safe_reasons"], "safe again after reboot")
    status = wait_for(lambda: (s := mcu_status(probe)) and "rebooted" in s.message and s,
                      "the reboot in /diagnostics")
    values = {kv.key: kv.value for kv in status.values}
    assert values["mcu_reboots"] == "1"
    assert int(values["telemetry_lost"]) < 50, values   # not ~65,000 frames


def test_a_restarted_safety_node_gets_the_held_button_back_and_the_payload_stays_safe(
        payload_chain, safety_chain, virtual_mcu, ros_probe, dog_namespace, tmp_path):
    """The MCU side of "holds survive restarts": the button still pressed holds the dog again
    under a new safety_node, and the MCU never leaves its button safe state meanwhile."""
    from tests.fixtures.ros_nodes import NodeProcess
    probe = ros_probe
    virtual_mcu.set_button(True)
    wait_for(lambda: latest(probe).engaged and "button" in latest(probe).reason, "the button's hold")
    safety, _base = safety_chain
    safety.kill(signal.SIGKILL)                                  # no goodbye
    restarted = time.monotonic()
    again = NodeProcess("robot_dog.safety.node", dog_namespace, tmp_path / "safety2.log")
    try:
        wait_for(lambda: [m for t, m in probe.got["estop"] if t > restarted
                          and m.engaged and "button" in m.reason], "the new safety_node held")
        assert "BUTTON" in virtual_mcu.snapshot()["safe_reasons"]
    finally:
        again.kill()


@pytest.fixture
def slow_telemetry_chain(safety_chain, mcu_link_path, dog_namespace, ros_probe, tmp_path):
    """payload_node on an MCU that reports once a second (its limits raised to match), so the
    newest telemetry payload_node holds stays one sampled before a button's pull-out for most
    of a second after it."""
    mcu = VirtualMcu(mcu_link_path, McuModelConfig(telemetry_period_s=1.0), seed=1234).start()
    node = PayloadNodeProcess(mcu.link, tmp_path / "payload_node.log", dog_namespace,
                              mcu_silent_s=3.0, telemetry_stale_s=3.0)
    ros_probe.record(EstopState, "estop", qos.STATE)
    try:
        wait_for(lambda: any("mcu" in m.endpoints for m in ros_probe.messages("estop")),
                 "payload_node checking in for the MCU")
        yield mcu, node
    finally:
        node.kill()
        mcu.stop()


def test_a_button_pulled_out_before_the_next_telemetry_is_not_pressed_again_by_older_frames(
        slow_telemetry_chain, ros_probe, dog_namespace):
    """The pull-out's EVENT is the MCU's newest word: the telemetry sampled while the button was
    down, still payload_node's newest frame, engages nothing after the release."""
    mcu, node = slow_telemetry_chain
    probe = ros_probe
    mcu.set_button(True)
    wait_for(lambda: "button" in latest(probe).hold_endpoints, "the button's hold")
    time.sleep(1.2)   # setup, not a check: a telemetry sampled with the button down went out
    mcu.set_button(False)
    wait_for(lambda: "payload e-stop button pulled out" in node.output(), "pulled out")
    done = release(dog_namespace, "button")
    assert done.returncode == 0 and "button released its hold" in done.stdout, done.stdout
    released = time.monotonic()
    wait_for(lambda: "button" not in latest(probe).hold_endpoints, "released")
    time.sleep(1.5)   # a negative check: nothing engages the button again
    again = [m.reason for t, m in probe.got["estop"] if t > released and "button" in m.hold_endpoints]
    assert not again, again
    assert node.output().count("payload e-stop button pressed") == 1, node.output()
