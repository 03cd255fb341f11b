"""Gazebo export: the SDF world passes the real libsdformat (a tiny C++ checker built here with
g++ against Debian's libsdformat-dev), and every bridged topic and type is one sim_node uses."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sim.gazebo import export, gz_topic
from sim.scenario import SCENARIO_DIR, load_scenario

CHECKER_SOURCE = Path(__file__).parent / "data" / "sdf" / "check_world.cpp"


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> Path:
    if shutil.which("g++") is None or shutil.which("pkg-config") is None:
        pytest.skip("g++ or pkg-config missing (Debian build-essential, pkg-config)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sdformat12"], capture_output=True, text=True)
    if flags.returncode != 0:
        pytest.skip("libsdformat missing: apt-get install libsdformat-dev (./dev.sh setup does)")
    binary = tmp_path_factory.mktemp("sdf") / "check_world"
    subprocess.run(["g++", "-std=c++17", str(CHECKER_SOURCE), *flags.stdout.split(), "-o", str(binary)],
                   check=True, capture_output=True, text=True)
    return binary


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
def test_exported_world_passes_libsdformat(checker, tmp_path, name):
    scenario = load_scenario(name)
    world, bridge = export(scenario, tmp_path, "dog1")
    result = subprocess.run([str(checker), str(world)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"world {scenario.name}" in lines
    models = [line.split()[1] for line in lines if line.startswith("model ")]
    assert len(models) == 1 + len(scenario.objects) + len(scenario.people) + 1   # ground ... dog
    sensors = {line.split()[3]: line.split()[4] for line in lines if line.startswith("sensor dog1 ")}
    assert sensors == {"imu": gz_topic("dog1", "imu/data"), "navsat": gz_topic("dog1", "fix"),
                       "camera": gz_topic("dog1", "camera/image_raw"),
                       "gpu_lidar": gz_topic("dog1", "scan")}
    entries = yaml.safe_load(bridge.read_text())
    gz_side = {e["gz_topic_name"] for e in entries}
    assert set(sensors.values()) <= gz_side


@pytest.mark.slow
def test_checker_refuses_a_broken_world(checker, tmp_path):
    world, _ = export(load_scenario("plaza_day"), tmp_path)
    world.write_text(world.read_text().replace("<box><size>0.376 0.094 0.114</size></box>",
                                               "<box><size>not a size</size></box>", 1))
    result = subprocess.run([str(checker), str(world)], capture_output=True, text=True)
    assert result.returncode == 1 and "error" in result.stderr


@pytest.mark.slow
def test_bridged_topics_and_types_are_the_ones_sim_node_uses(tmp_path):
    import rclpy
    from sim.node import SimNode
    _, bridge = export(load_scenario("plaza_day"), tmp_path)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = SimNode(namespace="/dog1", context=context, parameter_overrides=[
        rclpy.parameter.Parameter("mode", value="kinematic"),
        rclpy.parameter.Parameter("render", value=False),
        rclpy.parameter.Parameter("publish_clock", value=True)])
    try:
        def relative(name: str) -> str:
            return name[len("/dog1/"):] if name.startswith("/dog1/") else name

        def type_name(cls: type) -> str:
            module = cls.__module__.split(".")
            return f"{module[0]}/{module[1]}/{cls.__name__}"
        published = {(relative(p.topic_name), type_name(p.msg_type)) for p in node.publishers}
        subscribed = {(relative(s.topic_name), type_name(s.msg_type)) for s in node.subscriptions}
    finally:
        node.close()
        node.destroy_node()
        rclpy.shutdown(context=context)
    for entry in yaml.safe_load(bridge.read_text()):
        pair = (entry["ros_topic_name"], entry["ros_type_name"])
        side = subscribed if entry["direction"] == "ROS_TO_GZ" else published
        assert pair in side, f"{pair} is not a {entry['direction']} topic of sim_node"
