"""payload_node's own words at start: a port that does not exist is said to be missing (with the
fix), not reported as "on PATH at 115200 baud"; and a SIGTERM then stops it quietly."""
from __future__ import annotations

import signal

import pytest

from tests.fixtures.firmware import PayloadNodeProcess
from tests.support import wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.mark.slow
def test_missing_port_is_said_with_the_fix(tmp_path) -> None:
    missing = tmp_path / "no_mcu_here"
    node = PayloadNodeProcess(missing, tmp_path / "payload_node.log", namespace="/msg")
    try:
        wait_for(lambda: "does not exist" in node.output(), "the missing-port warning", timeout_s=60)
    finally:
        node.kill(signal.SIGTERM)
    out = node.output()
    assert f"payload MCU port {missing} does not exist (yet)" in out
    assert f"python -m firmware_bridge.virtual_mcu --link {missing}" in out
    assert "baud" not in out
    assert node.proc.returncode == 0 and "Traceback" not in out, out
