"""`robot-dog doctor`: what the stack needs on this machine, and how to install what is missing.

Each check is a small function returning a Finding; the report is plain text. Required
findings that fail make the exit code 1; optional ones (camera, serial port) only inform,
because the stack falls back to its virtual/sim backends.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from robot_dog.ros import dds_env

FIX_SETUP = "run ./dev.sh setup"
_LEGEND = """Each line is one check:
  [ok  ] present and working
  [MISS] required and missing: the line below says how to fix it; exit code 1
  [info] optional and absent: the stack falls back to a virtual backend, or the line says how
         to add it"""


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


Which = Callable[[str], str | None]


def _import(module: str, name: str, fix: str) -> Finding:
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001  (ImportError or a broken native library)
        return Finding(name, False, f"cannot import {module}: {exc}", fix)
    return Finding(name, True, f"import {module} ok")


def _binary(which: Which, name: str, binary: str, package: str, purpose: str,
            required: bool = True) -> Finding:
    path = which(binary)
    if path:
        return Finding(name, True, path, required=required)
    return Finding(name, False, f"{binary} not found ({purpose})",
                   f"apt-get install {package}", required=required)


def _dds_profile() -> Finding:
    problems = dds_env.problems()
    if not problems:
        try:
            root = ET.parse(dds_env.PROFILE_PATH).getroot()
        except ET.ParseError as exc:
            problems = [f"profile does not parse: {exc}"]
        else:
            ns = "{http://www.eprosima.com}"
            builtin = root.find(f".//{ns}useBuiltinTransports")
            if builtin is None or builtin.text != "false":
                problems = ["profile leaves Fast DDS built-in transports on"]
    if problems:
        return Finding("DDS localhost-only", False, "; ".join(problems),
                       "run through ./dev.sh or `python -m robot_dog.ros.localhost -- CMD`")
    return Finding("DDS localhost-only", True, f"{dds_env.PROFILE_PATH.name} (loopback only)")


def _devices(name: str, patterns: list[str], fallback: str) -> Finding:
    """Optional hardware: none is not a fault (the stack uses its virtual backend), so no fix."""
    found = sorted(p for pattern in patterns for p in glob.glob(pattern))
    if found:
        return Finding(name, True, ", ".join(found), required=False)
    return Finding(name, False, f"none found; {fallback}", required=False)


DaemonCheck = Callable[[str], bool]


def _pulseaudio_running(binary: str) -> bool:
    """`pulseaudio --check`: exit 0 when a daemon runs for this user."""
    try:
        return subprocess.run([binary, "--check"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pulseaudio(which: Which, running: DaemonCheck) -> Finding:
    """Optional: the megaphone and microphone nodes start their own daemon with the virtual
    devices (robot_dog.audio.devices), and so do the tests."""
    name, purpose = "PulseAudio", "virtual audio for the megaphone and microphone nodes"
    binary = which("pulseaudio")
    if not binary:
        return Finding(name, False, f"pulseaudio not found ({purpose})",
                       "apt-get install pulseaudio", required=False)
    if not running(binary):
        return Finding(name, False, f"{binary} installed, daemon not running ({purpose})",
                       "pulseaudio --start", required=False)
    return Finding(name, True, f"{binary}, daemon running", required=False)


def _audio_devices() -> Finding:
    """The virtual audio daemon and the dog's devices (robot_dog.audio.devices)."""
    from robot_dog.audio import devices
    where = devices.default_runtime_dir()
    name = "audio devices"
    fix = "python -c 'from robot_dog.audio.devices import ensure_virtual_devices as e; e()'"
    try:
        if not devices.daemon_running(where):
            return Finding(name, False, f"no PulseAudio daemon on {where / 'native'}", fix,
                           required=False)
        sinks, sources = devices.list_devices(where)
    except Exception as exc:  # noqa: BLE001  (pactl missing or broken: report, never crash)
        return Finding(name, False, f"cannot ask PulseAudio: {exc}", fix, required=False)
    wanted = {devices.SPEAKER_SINK: sinks, devices.STREET_SINK: sinks, devices.MIC_SOURCE: sources}
    missing = [n for n, found in wanted.items() if n not in found]
    detail = (f"daemon on {where / 'native'}; "
              + (f"missing {', '.join(missing)}" if missing else ", ".join(wanted)))
    return Finding(name, not missing, detail, fix, required=False)


def run_checks(which: Which = shutil.which,
               pulseaudio_running: DaemonCheck = _pulseaudio_running,
               audio_devices: Callable[[], Finding] = _audio_devices) -> list[Finding]:
    """Every check; the ones that ask the machine's daemons are injectable (tests)."""
    return [
        Finding("python", sys.version_info >= (3, 11), sys.version.split()[0],
                "install Python 3.11 (Debian 12: apt-get install python3)"),
        _import("rclpy", "rclpy (ROS 2 Kilted wheels)", FIX_SETUP),
        _import("robot_dog_interfaces.msg", "custom interfaces", FIX_SETUP + " (builds ros_ws)"),
        _import("tf2_msgs.msg", "TF interfaces (tf2_msgs)", FIX_SETUP + " (builds ros_ws)"),
        _dds_profile(),
        _binary(which, "mosquitto", "mosquitto", "mosquitto", "MQTT broker"),
        _binary(which, "mosquitto clients", "mosquitto_sub", "mosquitto-clients", "tests, debugging"),
        _pulseaudio(which, pulseaudio_running),
        _binary(which, "Chromium", "chromium", "chromium", "viewer tests", required=False),
        _binary(which, "espeak-ng", "espeak-ng", "espeak-ng", "megaphone TTS", required=False),
        audio_devices(),
        _devices("camera", ["/dev/video*"], "fine: the bodycam uses its synthetic test scene"),
        _devices("serial port", ["/dev/ttyUSB*", "/dev/ttyACM*"],
                 "fine: the payload bridge uses the virtual MCU on a pty"),
    ]


def report(findings: list[Finding]) -> tuple[str, int]:
    lines = []
    for f in findings:
        mark = "ok  " if f.ok else ("MISS" if f.required else "info")
        lines.append(f"[{mark}] {f.name}: {f.detail}" + (f"\n        fix: {f.fix}" if not f.ok and f.fix else ""))
    missing = [f.name for f in findings if f.required and not f.ok]
    lines.append(f"{len(missing)} required component(s) missing" + (f": {', '.join(missing)}" if missing else ""))
    return "\n".join(lines), 1 if missing else 0


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="robot-dog doctor", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check what the stack needs on this machine and say how to install what is "
                    "missing.\n\n" + _LEGEND,
    ).parse_args(argv)
    text, code = report(run_checks())
    print(text)
    return code
