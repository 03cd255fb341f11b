"""`robot-dog doctor`: says what is missing and how to install it."""
import pytest
import os
import subprocess
import sys

from robot_dog.cli.doctor import Finding, report, run_checks


@pytest.mark.slow
def test_a_missing_binary_is_reported_with_its_fix_and_fails():
    findings = run_checks(which=lambda name: None if name == "mosquitto" else f"/usr/bin/{name}")
    text, code = report(findings)
    assert code == 1
    assert "[MISS] mosquitto: mosquitto not found (MQTT broker)" in text
    assert "fix: apt-get install mosquitto" in text
    assert "1 required component(s) missing: mosquitto" in text


def test_everything_present_passes():
    text, code = report(run_checks(which=lambda name: f"/usr/bin/{name}",
                                   pulseaudio_running=lambda binary: True, audio_devices=no_daemon))
    assert code == 0, text


@pytest.mark.slow
def test_cli_on_a_machine_without_the_tools(tmp_path):
    """The real command, with a PATH that holds none of the Debian tools."""
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "robot_dog.cli", "doctor"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "[MISS] mosquitto" in proc.stdout
    assert "[info] PulseAudio: pulseaudio not found" in proc.stdout  # no node needs it yet
    assert "Traceback" not in proc.stdout + proc.stderr


def no_daemon() -> Finding:
    """The audio-device check as on a machine with no daemon (the real one asks pactl)."""
    return Finding("audio devices", False, "no PulseAudio daemon", required=False)


def present(name: str) -> str:
    return f"/usr/bin/{name}"


def test_pulseaudio_installed_but_not_running_is_not_ok():
    """The daemon is checked, not only the binary; no node needs audio yet, so it is optional."""
    text, code = report(run_checks(which=present, pulseaudio_running=lambda binary: False,
                                   audio_devices=no_daemon))
    assert code == 0
    assert "[info] PulseAudio: /usr/bin/pulseaudio installed, daemon not running" in text
    assert "fix: pulseaudio --start" in text
    text, _ = report(run_checks(which=present, pulseaudio_running=lambda binary: True,
                                audio_devices=no_daemon))
    assert "[ok  ] PulseAudio: /usr/bin/pulseaudio, daemon running" in text


@pytest.mark.slow
def test_the_daemon_check_asks_pulseaudio_itself(tmp_path):
    """`pulseaudio --check` is the judge: a stand-in binary that answers 1, then 0."""
    fake = tmp_path / "pulseaudio"
    for answer, expected in ((1, "daemon not running"), (0, "daemon running")):
        fake.write_text(f"#!/bin/sh\n[ \"$1\" = --check ] && exit {answer}\nexit 2\n")
        fake.chmod(0o755)
        text, _ = report(run_checks(which=lambda name: str(fake) if name == "pulseaudio" else None))
        assert f"PulseAudio: {fake}" in text and expected in text


@pytest.mark.slow
def test_absent_optional_devices_inform_without_a_fix():
    text, _ = report(run_checks(which=present))
    for line in text.splitlines():
        if line.startswith("[info] camera") or line.startswith("[info] serial port"):
            assert "fine:" in line
    assert "connect the device" not in text
