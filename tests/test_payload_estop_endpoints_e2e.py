"""The payload MCU and its e-stop button stop the dog: payload_node, safety_node and the echo base
as processes, the virtual MCU on a pty in this process, a ROS probe for state and requests."""
from __future__ import annotations

import subprocess
import sys
import time
from functools import partial

import pytest
from robot_dog_interfaces.msg import EstopState

from robot_dog.ros import dds_env, qos
from tests import support
from tests.fixtures.firmware import PayloadNodeProcess

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


@pytest.fixture
def payload_chain(safety_chain, virtual_mcu, dog_namespace, ros_probe, tmp_path):
    node = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log", dog_namespace)
    ros_probe.record(EstopState, "estop", qos.STATE)
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


def test_the_payload_button_stops_the_dog_until_released_after_it_is_pulled_out(
        payload_chain, virtual_mcu, ros_probe, dog_namespace):
    probe = ros_probe
    assert not latest(probe).engaged
    virtual_mcu.set_button(True)
    wait_for(lambda: latest(probe).engaged and "button: e-stop button on the payload pressed"
             in latest(probe).reason, "the button's hold")
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


def test_a_lost_payload_link_stops_the_dog_until_it_is_back_and_released(
        payload_chain, virtual_mcu, ros_probe, dog_namespace):
    probe = ros_probe
    virtual_mcu.unplug(8.0)
    state = wait_for(lambda: [m for m in probe.messages("estop") if m.engaged], "the mcu's hold")[-1]
    assert "mcu: mcu missed its 2 s deadline" in state.reason and "mcu" in state.stale_endpoints
    early = release(dog_namespace, "mcu")
    assert early.returncode == 1 and "check in before releasing" in early.stdout, early.stdout
    wait_for(lambda: "mcu" not in latest(probe).stale_endpoints, "the MCU checking in again")
    assert latest(probe).engaged                                 # back, but still held
    done = release(dog_namespace, "mcu")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: not latest(probe).engaged, "released")
