"""`robot-dog payload` against the virtual MCU on a pty."""
from __future__ import annotations

import json
import os

import pytest

from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.model import McuModelConfig
from robot_dog.cli.payload import main


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
    assert status["boot_id"] == f"{virtual_mcu.snapshot()['boot_id']:08x}"
    assert run(virtual_mcu, "stream", "--count", "3", "--json") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("charge" in json.loads(line) for line in lines)


def test_safe_engage_and_release(virtual_mcu) -> None:
    assert run(virtual_mcu, "safe", "engage") == 0
    assert "COMMANDED" in virtual_mcu.snapshot()["safe_reasons"]
    assert run(virtual_mcu, "safe", "release") == 0
    assert "COMMANDED" not in virtual_mcu.snapshot()["safe_reasons"]


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `robot-dog payload ...` line in README.md and docs/, as argv after the verb."""
    import re
    import shlex
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    found = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            match = re.search(r"robot-dog payload (.*)$", line.split("#")[0].strip())
            if match and not line.lstrip().startswith("|") and "`" not in match.group(0):
                found.append((f"{doc.name}: {line.strip()}", shlex.split(match.group(1))))
    return found


def test_every_documented_payload_command_works_as_shown(virtual_mcu, capsys) -> None:
    commands = documented_commands()
    assert len(commands) >= 2
    for where, argv in commands:
        if "--port" in argv:                          # the docs' port -> this test's MCU
            argv[argv.index("--port") + 1] = str(virtual_mcu.link)
        else:
            argv = ["--port", str(virtual_mcu.link), *argv]
        assert main(argv) == 0, f"{where}: {capsys.readouterr().err}"


def test_status_of_a_newer_mcu_is_shown_not_dropped() -> None:
    """Unknown pattern and safe-reason bits: decoded, named, and counted as safe."""
    import dataclasses

    from firmware_bridge.virtual_mcu.model import McuModel
    from robot_dog.cli.payload import describe
    t = McuModel(now=0.0).telemetry(0.1)
    shown = describe(dataclasses.replace(t, light_pattern=9, safe_reasons=0x80, faults=0x4000))
    assert shown["light"] == "unknown_9"
    assert shown["safe"] == ["UNKNOWN_0x80"] and shown["faults"] == ["UNKNOWN_0x4000"]


def test_a_missing_port_names_the_fix_without_waiting(tmp_path, capsys) -> None:
    missing = tmp_path / "nothing"
    assert main(["--port", str(missing), "--connect-timeout", "60", "status"]) == 3  # no 60 s wait
    err = capsys.readouterr().err
    assert f"{missing} does not exist" in err
    assert f"python -m firmware_bridge.virtual_mcu --link {missing}" in err


def test_a_port_held_by_another_program_is_not_called_missing(host_link, virtual_mcu, capsys) -> None:
    """host_link holds the port as payload_node does (exclusive lock)."""
    assert run(virtual_mcu, "--connect-timeout", "60", "status") == 3  # said at once, not after 60 s
    err = capsys.readouterr().err
    assert "is in use by another program" in err and "payload_node" in err
    assert "no MCU answering" not in err


def test_a_port_where_nothing_answers(capsys) -> None:
    master, slave = os.openpty()  # a real tty with no MCU behind it
    try:
        assert main(["--port", os.ttyname(slave), "--connect-timeout", "0.5", "status"]) == 3
    finally:
        os.close(master)
        os.close(slave)
    assert "no MCU answering on" in capsys.readouterr().err
