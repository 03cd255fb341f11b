"""Localhost-only ROS 2 discovery: the one code path every run goes through.

Discovery and data never leave this machine (every receive port on 127.0.0.1). `apply()` sets the variables in
this process before rclpy creates a participant; `environ()` builds them for child processes (the
launcher, tests, benchmarks); `python -m robot_dog.ros.localhost -- CMD` runs any command
with them (used by dev.sh and CI). `problems()` says what is wrong with an environment, for `doctor`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROFILE_PATH = Path(__file__).resolve().parents[1] / "config" / "fastdds_localhost.xml"
#: The same profile with a 1 MB shared-memory segment, for processes that publish no images: a
#: participant's segment holds the samples it sends and Fast DDS zeroes it whole at start, so it
#: stays resident (8 MB in an image publisher).
SMALL_PROFILE_PATH = PROFILE_PATH.with_name("fastdds_localhost_small.xml")
PROFILES = (PROFILE_PATH, SMALL_PROFILE_PATH)

#: The variables that pin discovery to loopback; forced, not defaulted, so no caller can widen it.
#:
#:
#: LOCALHOST and the profile together, as the project's network rule requires: the range keeps a
#: participant's discovery on this machine even if the profile were missing, and the profile
#: keeps every receive port on 127.0.0.1. Measured (strace): with LOCALHOST, rmw_fastrtps adds an
#: unspecified-address discovery locator after the profile is loaded, so Fast DDS also opens
#: unconnected *send* sockets on 0.0.0.0 and on each interface's address. They only ever send to
#: the locators of participants discovered over 127.0.0.1 (all on this machine); no receive port
#: is off loopback. tests/test_ros_dds_env.py checks exactly this against an allow-list.
REQUIRED: dict[str, str] = {
    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE_PATH),
    "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
}
#: Variables that would add off-machine peers or switch the profile off.
FORBIDDEN = ("ROS_STATIC_PEERS", "ROS_DISCOVERY_SERVER", "ROS_LOCALHOST_ONLY", "SKIP_DEFAULT_XML_FILE")


def _required(large_samples: bool) -> dict[str, str]:
    return {**REQUIRED, "FASTDDS_DEFAULT_PROFILES_FILE":
            str(PROFILE_PATH if large_samples else SMALL_PROFILE_PATH)}


def environ(base: Mapping[str, str] | None = None, large_samples: bool = True) -> dict[str, str]:
    """Return a copy of `base` (default: os.environ) with localhost-only discovery forced.
    `large_samples`: the 8 MB shared-memory segment (for a process that publishes images)."""
    env = dict(os.environ if base is None else base)
    for name in FORBIDDEN:
        env.pop(name, None)
    env.update(_required(large_samples))
    return env


def apply(large_samples: bool = True) -> None:
    """Force localhost-only discovery in this process (call before rclpy.init)."""
    for name in FORBIDDEN:
        os.environ.pop(name, None)
    os.environ.update(_required(large_samples))


def problems(env: Mapping[str, str] | None = None) -> list[str]:
    """What makes `env` unsafe; empty when discovery is localhost-only."""
    env = os.environ if env is None else env
    profiles = [str(p) for p in PROFILES]
    found = [f"{k}={env.get(k)!r}, expected {v!r}" for k, v in REQUIRED.items()
             if env.get(k) != v and not (k == "FASTDDS_DEFAULT_PROFILES_FILE" and env.get(k) in profiles)]
    found += [f"{k} is set" for k in FORBIDDEN if k in env]
    found += [f"Fast DDS profile missing: {p}" for p in PROFILES if not p.is_file()]
    return found
