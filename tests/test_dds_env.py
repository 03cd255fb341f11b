"""Localhost-only discovery: the environment and the Fast DDS profile every run uses."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from robot_dog import dds_env

NS = "{http://www.eprosima.com}"


def test_environ_forces_localhost_and_strips_widening_variables():
    env = dds_env.environ({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_STATIC_PEERS": "10.0.0.9",
                           "FASTDDS_DEFAULT_PROFILES_FILE": "/tmp/other.xml", "HOME": "/root"})
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(dds_env.PROFILE_PATH)
    assert "ROS_STATIC_PEERS" not in env
    assert env["HOME"] == "/root"
    assert dds_env.problems(env) == []


def test_problems_names_each_unsafe_setting():
    found = dds_env.problems({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_DISCOVERY_SERVER": "x"})
    text = "\n".join(found)
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" in text and "ROS_DISCOVERY_SERVER is set" in text
    assert "FASTDDS_DEFAULT_PROFILES_FILE" in text


def test_importing_the_stack_applies_it_in_this_process():
    assert dds_env.problems() == []  # conftest imported robot_dog


def test_profile_keeps_udp_on_loopback_and_enlarges_shared_memory():
    root = ET.parse(dds_env.PROFILE_PATH).getroot()
    participant = root.find(f".//{NS}participant")
    assert participant.get("is_default_profile") == "true"
    assert participant.find(f".//{NS}useBuiltinTransports").text == "false"
    udp = [t for t in root.iter(f"{NS}transport_descriptor") if t.find(f"{NS}type").text == "UDPv4"]
    assert [a.text for t in udp for a in t.iter(f"{NS}address")] == ["127.0.0.1"]
    shm = [t for t in root.iter(f"{NS}transport_descriptor") if t.find(f"{NS}type").text == "SHM"]
    assert int(shm[0].find(f"{NS}segment_size").text) >= 16 * 1024 * 1024
    # User data must not be pinned to UDP locators: that would push images off shared memory.
    assert participant.find(f".//{NS}defaultUnicastLocatorList") is None
    for locator_list in ("metatrafficUnicastLocatorList", "initialPeersList"):
        addresses = [a.text for a in participant.find(f".//{NS}{locator_list}").iter(f"{NS}address")]
        assert addresses == ["127.0.0.1"], locator_list


def test_localhost_runner_passes_the_environment_to_commands():
    out = subprocess.run(
        [sys.executable, "-m", "robot_dog.localhost", "--", sys.executable, "-c",
         "import os; print(os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'], os.environ.get('ROS_STATIC_PEERS'))"],
        env={**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_STATIC_PEERS": "10.1.1.1"},
        capture_output=True, text=True, check=True).stdout
    assert out.split() == ["LOCALHOST", "None"]


def test_ros_participant_listens_on_loopback_only():
    """A real rclpy participant with the profile binds its UDP receive ports to 127.0.0.1."""
    base = 7400 + 250 * int(os.environ.get("ROS_DOMAIN_ID", "0"))  # the RTPS ports of this domain
    code = (
        "import rclpy, psutil, os; import robot_dog; rclpy.init(); n = rclpy.create_node('probe');"
        "p = psutil.Process(os.getpid());"
        f"print(sorted({{c.laddr.ip for c in p.net_connections(kind='udp') if {base} <= c.laddr.port < {base + 250}}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=dds_env.environ(), capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "['127.0.0.1']"
