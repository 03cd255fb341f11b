"""`robot-dog payload` against the virtual MCU on a pty."""
from __future__ import annotations

import json

import pytest

from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModelConfig
from robot_dog.cli_payload import main


def run(virtual_mcu, *argv: str) -> int:
    return main(["--port", str(virtual_mcu.link), *argv])


@pytest.fixture
def patient_mcu(mcu_link_path):
    """A virtual MCU whose heartbeat watchdog waits an hour: the CLI exits (and stops sending
    heartbeats) right after its command, and the state it set must still be there to read."""
    mcu = VirtualMcu(mcu_link_path, McuModelConfig(heartbeat_timeout_s=3600.0), seed=1234).start()
    try:
        yield mcu
    finally:
        mcu.stop()


def test_set_light_and_searchlight(patient_mcu, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(patient_mcu, "light", "alternate", "--rate", "1.5", "--duration", "30") == 0
    assert "SetLight: OK" in capsys.readouterr().out
    snap = patient_mcu.snapshot()
    assert (snap["light_pattern"], snap["light_rate_hz"], snap["safe"]) == ("alternate", 1.5, False)
    assert run(patient_mcu, "searchlight", "0.4", "--duration", "30") == 0
    assert patient_mcu.snapshot()["searchlight_level"] == pytest.approx(0.4)


def test_the_mcu_goes_safe_when_the_cli_leaves(virtual_mcu) -> None:
    """With the real 0.5 s watchdog: once the CLI's heartbeats stop, the light bar goes steady."""
    assert run(virtual_mcu, "light", "alternate", "--rate", "1.5", "--duration", "30") == 0
    snap = virtual_mcu.wait_for(lambda s: s["safe"], timeout=10.0)
    assert snap is not None and snap["light_pattern"] == "steady"
    assert "HEARTBEAT_LOST" in snap["faults"]


def test_out_of_range_refused_before_sending(virtual_mcu, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(virtual_mcu, "light", "flash", "--rate", "50") == 1
    assert "outside 1-4 Hz" in capsys.readouterr().err
    assert run(virtual_mcu, "searchlight", "3.0") == 1
    assert "outside 0..1" in capsys.readouterr().err
    assert virtual_mcu.snapshot()["commands_applied"] == 0


def test_status_json_and_stream(virtual_mcu, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(virtual_mcu, "amp", "on", "--volume", "40") == 0
    capsys.readouterr()
    assert run(virtual_mcu, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["amp"] == "on cap 40%" and 20 < status["battery_v"] < 26
    assert run(virtual_mcu, "stream", "--count", "3", "--json") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("charge" in json.loads(line) for line in lines)


def test_safe_engage_release_and_no_mcu(virtual_mcu, tmp_path, capsys) -> None:
    assert run(virtual_mcu, "safe", "engage") == 0
    assert "COMMANDED" in virtual_mcu.snapshot()["safe_reasons"]
    assert run(virtual_mcu, "safe", "release") == 0
    assert "COMMANDED" not in virtual_mcu.snapshot()["safe_reasons"]
    assert main(["--port", str(tmp_path / "nothing"), "--connect-timeout", "0.3", "status"]) == 3
    assert "no MCU answering" in capsys.readouterr().err
