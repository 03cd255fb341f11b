"""Hardware endpoints and the restart interlock together: payload_node with the virtual MCU on a
pty, safety_node and the echo base as processes; the patrol keeps publishing through every stop
and must not drive again after a release until it is resumed."""
from __future__ import annotations

import time
from functools import partial

import pytest
from robot_dog_interfaces.msg import EstopState
from robot_dog_interfaces.srv import MotionResume, SetBaseMode

from robot_dog.ros import qos

from tests import support
from tests.test_payload_estop_endpoints_e2e import latest, payload_chain, release  # noqa: F401
from tests.test_safety_node_e2e import Driver, start, vx

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


def resume_and_drive(probe, since: float) -> None:
    """The officer's deliberate actions: stand up (a held e-stop sat the dog), resume the patrol."""
    if probe.messages("base/state")[-1].mode != "stand":
        assert probe.call(SetBaseMode, "mode/set", mode="stand").accepted
    ok = probe.call(MotionResume, "motion/resume", input="patrol", endpoint="admin")
    assert ok.accepted, ok.message
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel", since=since)), "the resumed patrol driving")


def still_after_release(probe, what: str, asked: float) -> float:
    """`asked`: when the release was asked for (the `estop` that says released comes after it;
    an earlier one, from before the stop, would count the patrol's drive before it)."""
    released = wait_for(lambda: [t for t, m in probe.got["estop"] if not m.engaged and t >= asked][-1:],
                        f"{what} released")[0]
    time.sleep(1.5)            # a negative check: the patrol keeps publishing all along
    assert [v for v in vx(probe.messages("cmd_vel", since=released)) if v != 0.0] == []
    assert "patrol" in probe.messages("motion/state")[-1].waiting
    return released


def test_button_and_payload_link_releases_leave_the_patrol_paused_until_resumed(
        payload_chain, virtual_mcu, ros_probe, dog_namespace):
    probe = ros_probe
    start(probe)
    patrol = Driver(probe, "patrol")
    patrol.vx = 0.2
    resume_and_drive(probe, 0.0)

    virtual_mcu.set_button(True)
    wait_for(lambda: latest(probe).engaged, "the button's hold")
    virtual_mcu.set_button(False)
    wait_for(lambda: "payload e-stop button pulled out" in payload_chain.output(), "pulled out")
    asked = time.monotonic()
    assert release(dog_namespace, "button").returncode == 0
    resume_and_drive(probe, still_after_release(probe, "the button", asked))

    virtual_mcu.unplug(4.0)
    wait_for(lambda: [m for m in probe.messages("estop") if m.engaged and "mcu" in m.stale_endpoints],
             "the mcu's hold")
    wait_for(lambda: "mcu" not in latest(probe).stale_endpoints, "the MCU checking in again")
    asked = time.monotonic()
    assert release(dog_namespace, "mcu").returncode == 0
    resume_and_drive(probe, still_after_release(probe, "the mcu", asked))
    patrol.stop()


def test_the_payload_stays_safe_while_a_killed_safety_node_is_down_and_boot_held(
        virtual_mcu, ros_probe, dog_namespace, tmp_path):
    import signal

    from robot_dog_interfaces.srv import EstopRelease

    from tests.fixtures.firmware import PayloadNodeProcess
    from tests.fixtures.ros_nodes import NodeProcess
    probe = ros_probe
    safety = partial(NodeProcess, "robot_dog.safety.node", dog_namespace,
                     state_file=str(tmp_path / "holds.json"))
    node = safety(tmp_path / "safety1.log")
    payload = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload.log", dog_namespace)
    probe.record(EstopState, "estop", qos.STATE)
    try:
        start_estop = wait_for(lambda: probe.messages("estop")[-1:], "estop")[-1]
        assert start_estop.engaged and start_estop.hold_endpoints == ["boot"]
        wait_for(lambda: virtual_mcu.snapshot()["safe"], "the payload safe under the boot hold")
        assert probe.call(EstopRelease, "estop/release", endpoint="station").accepted
        wait_for(lambda: not virtual_mcu.snapshot()["safe"], "the payload live after the release")
        node.kill(signal.SIGKILL)
        node = safety(tmp_path / "safety2.log")
        t = time.monotonic()
        wait_for(lambda: [m for m in probe.messages("estop", since=t) if m.engaged],
                 "the restarted node held")
        wait_for(lambda: virtual_mcu.snapshot()["safe"], "the payload safe again")
        time.sleep(1.5)                                     # and it stays safe while held
        assert virtual_mcu.snapshot()["safe"]
    finally:
        node.kill()
        payload.kill()
