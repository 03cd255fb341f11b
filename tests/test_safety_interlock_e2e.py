"""The restart interlock, stale frames, boot hold and stop category 1 through the real safety_node
and echo base (separate processes, real rclpy). Waits are for conditions with generous deadlines;
the negative checks look at what was published over a quiet second, never at timing figures."""
from __future__ import annotations

import signal
import time
from functools import partial

import pytest
from robot_dog_interfaces.srv import EstopEngage, EstopRelease, MotionResume, SetBaseMode

from tests import support
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_safety_node_e2e import Driver, start, vx

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)


def moved_since(probe, t: float) -> list[float]:
    return [v for v in vx(probe.messages("cmd_vel", since=t)) if v != 0.0]


def test_a_release_does_not_restart_the_patrol_and_a_lapsed_stick_needs_re_centring(
        safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    patrol, handheld = Driver(probe, "patrol"), Driver(probe, "handheld")
    patrol.vx = 0.2
    time.sleep(1.0)
    assert moved_since(probe, 0.0) == []                       # paused from the start
    assert probe.call(MotionResume, "motion/resume", input="patrol", endpoint="station").accepted
    wait_for(lambda: 0.2 in vx(probe.messages("cmd_vel")), "the resumed patrol driving")
    engaged = probe.call(EstopEngage, "estop/engage", endpoint="station", reason="test")
    assert probe.call(EstopRelease, "estop/release", endpoint="station",
                      hold_id=engaged.hold_id).accepted
    released = time.monotonic()
    time.sleep(1.5)                                            # the patrol keeps publishing
    assert moved_since(probe, released) == []
    assert "patrol" in probe.messages("motion/state")[-1].waiting
    refused = probe.call(MotionResume, "motion/resume", input="patrol", endpoint="mcu")
    assert not refused.accepted and refused.code == "unknown_endpoint"
    refused = probe.call(MotionResume, "motion/resume", input="handheld", endpoint="station")
    assert not refused.accepted and refused.code == "not_resumable"
    patrol.freeze()

    # the handheld: driving, frozen 0.6 s mid-drive, then its frames come again deflected
    handheld.vx = 0.3
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel")), "the handheld driving")
    t = handheld.freeze()
    wait_for(lambda: 0.0 in vx(probe.messages("cmd_vel", since=t)), "the watchdog's zero")
    time.sleep(max(0.0, t + 0.6 - time.monotonic()))
    resumed = time.monotonic()
    handheld.vx = 0.3
    time.sleep(1.0)
    assert moved_since(probe, resumed) == []
    assert "handheld" in probe.messages("motion/state")[-1].waiting
    handheld.stop()                                            # re-centred
    handheld.vx = 0.3                                          # deflected anew
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel", since=resumed)), "driving after re-centring")
    handheld.stop()


def test_handheld_frames_older_than_the_bound_are_dropped(safety_chain, ros_probe):
    probe = ros_probe
    start(probe)
    old = Driver(probe, "handheld", age_s=0.6)                 # a stalled link's buffer
    old.vx = 0.3
    wait_for(lambda: "stale_frame" in safety_chain[0].output() or "frame 0.6" in
             safety_chain[0].output(), "the refusal logged")
    assert moved_since(probe, 0.0) == []
    old.vx, old.age_s = 0.3, 0.0
    wait_for(lambda: 0.3 in vx(probe.messages("cmd_vel")), "fresh frames driving")
    old.stop()


def test_a_killed_safety_node_restarts_held_and_an_estop_ends_sitting(dog_namespace, tmp_path,
                                                                       ros_probe):
    probe = ros_probe
    state = tmp_path / "safety" / "holds.json"
    node = partial(NodeProcess, "robot_dog.safety.node", dog_namespace, state_file=str(state),
                   settle_s=1.0)
    base = NodeProcess("robot_dog.base.echo_node", dog_namespace, tmp_path / "base.log")
    safety = node(tmp_path / "safety1.log")
    try:
        start(probe)
        first = wait_for(lambda: probe.messages("estop")[-1:], "estop")[-1]
        assert first.engaged and first.hold_endpoints == ["boot"]     # every start is held
        assert probe.call(EstopRelease, "estop/release", endpoint="station").accepted
        wait_for(lambda: not probe.messages("estop")[-1].engaged, "the boot hold released")
        gamepad = Driver(probe, "gamepad")
        gamepad.vx = 0.3

        def driving() -> bool:
            if probe.messages("base/state")[-1].mode == "sit":   # held past settle_s: it sat
                probe.call(SetBaseMode, "mode/set", mode="stand")
            return 0.3 in vx(probe.messages("cmd_vel"))
        wait_for(driving, "driving after the release (standing up first if it sat)")
        engaged = probe.call(EstopEngage, "estop/engage", endpoint="station", reason="viewer")
        wait_for(lambda: probe.messages("base/state")[-1].mode == "sit", "the base sitting (settle)")
        safety.kill(signal.SIGKILL)
        t = time.monotonic()
        safety = node(tmp_path / "safety2.log")
        back = wait_for(lambda: [m for m in probe.messages("estop", since=t)
                                 if "boot" in m.hold_endpoints], "the restarted node's estop")[-1]
        assert back.engaged and sorted(back.hold_endpoints) == ["boot", "station"]
        assert back.hold_ids[back.hold_endpoints.index("station")] == engaged.hold_id
        older = probe.call(EstopRelease, "estop/release", endpoint="station",
                           issued_at=time.time() - 3600)
        assert not older.accepted and older.code == "release_before_hold"
        assert probe.call(EstopRelease, "estop/release", endpoint="station").accepted
        assert probe.call(EstopRelease, "estop/release", endpoint="handheld").accepted  # boot
        wait_for(lambda: not probe.messages("estop")[-1].engaged, "released")
        time.sleep(1.0)
        assert probe.messages("base/state")[-1].mode == "sit"   # a release never stands it up
        assert moved_since(probe, t) == []                      # the stick never re-centred
    finally:
        safety.kill()
        base.kill()
