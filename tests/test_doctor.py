"""`robot-dog doctor`: says what is missing and how to install it."""
import os
import subprocess
import sys

from robot_dog.doctor import report, run_checks


def test_a_missing_binary_is_reported_with_its_fix_and_fails():
    findings = run_checks(which=lambda name: None if name == "mosquitto" else f"/usr/bin/{name}")
    text, code = report(findings)
    assert code == 1
    assert "[MISS] mosquitto: mosquitto not found (MQTT broker)" in text
    assert "fix: apt-get install mosquitto" in text
    assert "1 required component(s) missing: mosquitto" in text


def test_everything_present_passes():
    text, code = report(run_checks(which=lambda name: f"/usr/bin/{name}"))
    assert code == 0, text


def test_cli_on_a_machine_without_the_tools(tmp_path):
    """The real command, with a PATH that holds none of the Debian tools."""
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "robot_dog.cli", "doctor"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    for missing in ("mosquitto", "PulseAudio"):
        assert f"[MISS] {missing}" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
