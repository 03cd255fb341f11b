"""Localhost-only discovery: the environment and the Fast DDS profile every run uses."""
import pytest
import json
import socket
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET

import psutil

from robot_dog.ros import dds_env

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


@pytest.mark.slow
def test_the_test_run_applies_it_and_importing_the_stack_alone_does_not():
    assert dds_env.problems() == []  # conftest applied it
    clean = {k: v for k, v in os.environ.items() if k not in dds_env.REQUIRED}
    out = subprocess.run([sys.executable, "-c", "import robot_dog, robot_dog.safety.mux, os; "
                          "print(os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE'))"],
                         env=clean, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None"]  # a base driver on Ethernet DDS can import the cores


def test_the_small_profile_is_the_large_one_but_for_the_shared_memory_segment():
    """Two files, one fact each: they may differ only in the segment size and its comment."""
    def without_segment(path):
        root = ET.parse(path).getroot()
        for shm in root.iter(f"{NS}transport_descriptor"):
            for tag in ("segment_size", "maxMessageSize"):
                node = shm.find(f"{NS}{tag}")
                if node is not None:
                    node.text = "N"
        return ET.tostring(root)
    assert without_segment(dds_env.PROFILE_PATH) == without_segment(dds_env.SMALL_PROFILE_PATH)
    small = ET.parse(dds_env.SMALL_PROFILE_PATH).getroot()
    assert int(small.find(f".//{NS}segment_size").text) == 1024 * 1024
    env = dds_env.environ({}, large_samples=False)
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(dds_env.SMALL_PROFILE_PATH)
    assert dds_env.problems(env) == []


def test_profile_keeps_udp_on_loopback_and_enlarges_shared_memory():
    root = ET.parse(dds_env.PROFILE_PATH).getroot()
    participant = root.find(f".//{NS}participant")
    assert participant.get("is_default_profile") == "true"
    assert participant.find(f".//{NS}useBuiltinTransports").text == "false"
    udp = [t for t in root.iter(f"{NS}transport_descriptor") if t.find(f"{NS}type").text == "UDPv4"]
    assert [a.text for t in udp for a in t.iter(f"{NS}address")] == ["127.0.0.1"]
    shm = [t for t in root.iter(f"{NS}transport_descriptor") if t.find(f"{NS}type").text == "SHM"]
    # Two 1280x720 BGR frames in flight (a V4L2 source at 720p): the largest image we publish.
    assert int(shm[0].find(f"{NS}segment_size").text) >= 2 * (1280 * 720 * 3 + 1024)
    # User data must not be pinned to UDP locators: that would push images off shared memory.
    assert participant.find(f".//{NS}defaultUnicastLocatorList") is None
    for locator_list in ("metatrafficUnicastLocatorList", "initialPeersList"):
        addresses = [a.text for a in participant.find(f".//{NS}{locator_list}").iter(f"{NS}address")]
        assert addresses == ["127.0.0.1"], locator_list


@pytest.mark.slow
def test_localhost_runner_passes_the_environment_to_commands():
    out = subprocess.run(
        [sys.executable, "-m", "robot_dog.ros.localhost", "--", sys.executable, "-c",
         "import os; print(os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'], os.environ.get('ROS_STATIC_PEERS'))"],
        env={**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_STATIC_PEERS": "10.1.1.1"},
        capture_output=True, text=True, check=True).stdout
    assert out.split() == ["LOCALHOST", "None"]


#: Where a participant may receive, and whom it may talk to: loopback only.
ALLOWED_ADDRESSES = {"127.0.0.1", "::1"}
#: Where rmw's LOCALHOST range makes Fast DDS open unconnected send-only sockets (see dds_env).
SEND_ONLY_ADDRESSES = {"0.0.0.0"} | {
    a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET}

_SOCKETS_OF_A_TALKING_PARTICIPANT = """
import json, os, sys, time
import psutil, rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("probe", namespace=sys.argv[1])
pub = node.create_publisher(String, "chatter", 10)
got = []
node.create_subscription(String, "chatter", got.append, 10)
deadline = time.monotonic() + 30
while not got and time.monotonic() < deadline:  # a message makes the data path open its sockets
    pub.publish(String(data="x"))
    rclpy.spin_once(node, timeout_sec=0.1)
print(json.dumps({"received": len(got), "sockets": [
    [c.type.name, c.laddr.ip, c.laddr.port, c.raddr.ip if c.raddr else None]
    for c in psutil.Process(os.getpid()).net_connections(kind="inet")]}))
"""


@pytest.mark.slow
def test_every_socket_of_a_participant_is_on_loopback():
    """All of a real participant's sockets (UDP and TCP, IPv4 and IPv6, after discovery and a
    message), against an allow-list: every receive port (this domain's RTPS ports, any listening
    TCP socket) and every connected peer is on loopback; the only sockets elsewhere are the
    unconnected, ephemeral-port UDP send sockets that rmw's LOCALHOST range opens (dds_env)."""
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    base = 7400 + 250 * domain  # the RTPS ports of this domain
    ns = f"dds_{uuid.uuid4().hex[:8]}"
    out = subprocess.run([sys.executable, "-c", _SOCKETS_OF_A_TALKING_PARTICIPANT, ns],
                         env=dds_env.environ(), capture_output=True, text=True, timeout=120,
                         check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["received"] > 0
    sockets = report["sockets"]
    assert sockets
    connected_elsewhere = [s for s in sockets if s[3] not in (None, *ALLOWED_ADDRESSES)]
    assert not connected_elsewhere, f"talking to a peer off loopback: {connected_elsewhere}"
    off_loopback = [s for s in sockets if s[1] not in ALLOWED_ADDRESSES]
    receiving = [s for s in off_loopback if s[0] != "SOCK_DGRAM" or base <= s[2] < base + 250]
    assert not receiving, f"receive ports off loopback: {receiving}"
    unexpected = [s for s in off_loopback if s[1] not in SEND_ONLY_ADDRESSES or s[3] is not None]
    assert not unexpected, f"sockets off the allow-list: {unexpected}"
    assert any(s[0] == "SOCK_DGRAM" and s[1] == "127.0.0.1" and base <= s[2] < base + 250
               for s in sockets), sockets
