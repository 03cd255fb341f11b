"""The runner applies the scenario's faults on the sim clock: camera loss stops the frames for
its window, low battery sets the virtual MCU's charge, serial corruption is switched on and off
on the MCU's line, the e-stop button is held down for its window (real renderer, real virtual MCU
on a pty in its own process)."""
import dataclasses
import os
import time

from sim.core import SimWorld
from sim.runner import RunnerConfig, SimRunner
from sim.scenario import FaultEvent, load_scenario


def test_scenario_faults_on_the_sim_clock(tmp_path):
    scenario = dataclasses.replace(load_scenario("plaza_day"), faults=(
        FaultEvent("low_battery", at=0.5, duration=0.0, value=0.15),
        FaultEvent("serial_corrupt", at=0.5, duration=1.0, value=0.01),
        FaultEvent("estop_button", at=0.5, duration=1.0, value=0.0),
        FaultEvent("camera_loss", at=6.0, duration=1.5, value=0.0)))  # after the renderer is up
    world = SimWorld(scenario, "kinematic")
    frames: list[float] = []
    corrupt_seen: list[float] = []
    button_seen: list[bool] = []
    runner = SimRunner(world, RunnerConfig(real_time_factor=1.0, camera_fps=10.0,
                                           mcu_link=str(tmp_path / "mcu")),
                       on_frame=lambda frame, t: frames.append(t))
    runner.start()
    try:
        assert runner.mcu.pid != os.getpid()                      # the MCU runs apart
        deadline = time.monotonic() + 60
        while world.time < 8.5 and time.monotonic() < deadline:
            snapshot = runner.mcu.snapshot()                      # through its control socket
            corrupt_seen.append(snapshot["line_faults"]["corrupt_rate"])
            button_seen.append("BUTTON" in snapshot["safe_reasons"])
            time.sleep(0.05)
        snapshot = runner.mcu.snapshot()
    finally:
        runner.stop()
    assert not (tmp_path / "mcu").exists()                        # stopped with the runner
    assert snapshot["charge"] < 0.16 and "BATTERY_LOW" in snapshot["faults"]
    assert 0.01 in corrupt_seen and corrupt_seen[-1] == 0.0          # on, then off again
    assert True in button_seen and button_seen[-1] is False          # pressed, then pulled out
    assert not [t for t in frames if 6.05 < t < 7.45], "frames during the camera loss"
    assert [t for t in frames if t < 6.0] and [t for t in frames if t > 7.5]


def test_mqtt_faults_act_on_the_link_proxy(mosquitto):
    """mqtt_delay sets the proxy's delay for its window; mqtt_outage cuts a real MQTT session."""
    import paho.mqtt.client as mqtt

    from tests.support import wait_for
    scenario = dataclasses.replace(load_scenario("plaza_day"), faults=(
        FaultEvent("mqtt_delay", at=0.2, duration=1.0, value=0.2),
        FaultEvent("mqtt_outage", at=2.0, duration=2.0, value=0.0)))
    world = SimWorld(scenario, "kinematic")
    delays: list[float] = []
    runner = SimRunner(world, RunnerConfig(real_time_factor=1.0, render=False,
                                           link_upstream_port=mosquitto.port),
                       on_state=lambda s: delays.append(runner.link.faults.delay_s))
    runner.start()
    dog = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dog", protocol=mqtt.MQTTv5)
    cuts: list[float] = []
    dog.on_disconnect = lambda *a: cuts.append(world.time)
    try:
        dog.connect("127.0.0.1", runner.link.port, keepalive=5)
        dog.loop_start()
        wait_for(dog.is_connected, "the dog connected through the link proxy", timeout_s=20)
        wait_for(lambda: cuts, "the outage to cut the session", timeout_s=30)
        assert cuts[0] >= 2.0
        wait_for(dog.is_connected, "the dog back after the outage", timeout_s=30)
    finally:
        dog.loop_stop()
        dog.disconnect()
        runner.stop()
    assert 0.2 in delays and delays[-1] == 0.0     # on for its window, then off
    assert runner.link.connections >= 2
