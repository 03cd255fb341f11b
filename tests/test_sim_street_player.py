"""Street audio played by the simulator: the sim-time pacing (pure), and end to end with real
parts: sim_node plays a scenario's shout into the street sink of the run's PulseAudio daemon,
microphone_node (its own process) records the mic source and reports a `shout` event."""
from __future__ import annotations

import uuid

import pytest

from sim.street_player import SimAudioClock
from tests.fixtures.ros_nodes import NodeProcess


def test_a_chunk_is_due_once_sim_time_has_covered_it():
    clock = SimAudioClock(chunk_s=0.02)
    assert clock.due(0.0) is None and clock.due(0.019) is None
    assert clock.due(0.02) == 0.0
    assert clock.due(0.03) is None            # the next chunk ends at 0.04 s
    assert clock.due(0.05) == pytest.approx(0.02)
    assert clock.due(0.05) is None
    assert clock.skipped_s == 0.0


def test_audio_far_behind_sim_time_skips_ahead_instead_of_drifting():
    clock = SimAudioClock(chunk_s=0.02, max_lag_s=0.5)
    assert clock.due(0.4) == 0.0              # 0.4 s behind: within the allowed lag, no skip
    start = clock.due(3.0)                    # a late start or a faster-than-real-time sim
    assert start == pytest.approx(2.98)       # plays the chunk that ends now
    assert clock.skipped_s == pytest.approx(2.96)
    assert clock.due(3.0) is None


SHOUT_SCENARIO = """\
name: shout_test
seed: 3
geo_origin: {latitude: 36.6, longitude: 117.1}
start: {x: 0.0, y: 0.0, yaw: 0.0}
route: [[1, 0], [0, 0]]
sounds:
  - {kind: shout, at: %(at).1f, pos: [1.0, 0.0], level_db: 112}
"""


@pytest.mark.slow
def test_a_scenario_shout_reaches_the_microphone_node(virtual_audio, tmp_path):
    from tests.test_audio_microphone_e2e import MicClient
    namespace = f"/dog_{uuid.uuid4().hex[:8]}"
    mic = NodeProcess("robot_dog.audio.microphone_node", namespace, tmp_path / "mic.log")
    client = MicClient(namespace)
    sim = None
    try:
        assert client.spin_until(lambda: len(client.chunks) > 10, 60), mic.output()
        client.spin_for(1.0)
        assert client.events == [], [e.kind for e in client.events]   # a silent street first
        # The shout a few seconds of sim time after the simulator starts (its start-up on a
        # loaded machine is covered: a late start skips ahead, and the shout is after that).
        scenario = tmp_path / "shout.yaml"
        scenario.write_text(SHOUT_SCENARIO % {"at": 15.0})
        sim = NodeProcess("sim.node", namespace, tmp_path / "sim.log", scenario=str(scenario),
                          mode="kinematic", render=False)
        assert client.spin_until(lambda: any(e.kind == "shout" for e in client.events), 75), (
            sim.output() + mic.output())
        shout = next(e for e in client.events if e.kind == "shout")
        assert shout.peak_dbfs > -20 and 0 < shout.confidence <= 1
        assert "street audio: 1 sound(s) into 'robot_dog_street'" in sim.output()
    finally:
        client.close()
        mic.kill()
        if sim is not None:
            sim.kill()
    assert "Traceback" not in sim.output(), sim.output()


@pytest.mark.slow
def test_without_an_audio_device_the_simulator_runs_silent_and_says_so_once(tmp_path, monkeypatch):
    """No virtual daemon in this process's environment and no sound hardware here."""
    from robot_dog.audio import devices
    from tests.support import wait_for
    for name in (devices.DIR_VARIABLE, "PULSE_SERVER", "ALSA_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    sim = NodeProcess("sim.node", f"/dog_{uuid.uuid4().hex[:8]}", tmp_path / "sim.log",
                      scenario="incident", mode="kinematic", render=False)
    try:
        wait_for(lambda: "street audio off" in sim.output(), "street audio off", 60)
        wait_for(lambda: "scenario incident" in sim.output(), "sim_node up", 30)
    finally:
        sim.kill()
    out = sim.output()
    assert out.count("street audio off") == 1 and "Traceback" not in out, out
