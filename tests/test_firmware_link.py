"""Host link over real pyserial on a pty with the virtual MCU: ack, faults, unplug, safe state.

Waits here are generous end-to-end timeouts, not timing asserts (the benchmark measures those).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import wait
from pathlib import Path

import psutil
import pytest

from firmware_bridge.errors import CommandRefused, CommandTimeout, LinkDown
from firmware_bridge.host import LinkConfig, LinkState
from firmware_bridge.messages import (
    AckStatus, LightPattern, Safe, SetAmplifier, SetLight, SetSearchlight,
)
from firmware_bridge.transport import SerialLink
from firmware_bridge.virtual_mcu.device import VirtualMcu
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[1]


def test_commands_reach_the_mcu_and_telemetry_flows(virtual_mcu: VirtualMcu,
                                                    host_link: SerialLink) -> None:
    assert host_link.command(SetLight(LightPattern.ALTERNATE, 150, 30_000)) is AckStatus.OK
    assert host_link.command(SetSearchlight(600, False, 30_000)) is AckStatus.OK
    assert host_link.command(SetAmplifier(True, 70, 30_000)) is AckStatus.OK
    snap = virtual_mcu.snapshot()
    assert (snap["light_pattern"], snap["light_rate_hz"]) == ("alternate", 1.5)
    assert (snap["searchlight_level"], snap["amp_volume_cap_pct"]) == (0.6, 70)
    assert wait_until(lambda: (host_link.telemetry()[0] or None) is not None
                      and host_link.telemetry()[0].searchlight_level_pm == 600, 3.0)
    telemetry, age = host_link.telemetry()
    assert telemetry.light_pattern is LightPattern.ALTERNATE and age < 1.0


def test_refused_command_raises_with_status(host_link: SerialLink) -> None:
    with pytest.raises(CommandRefused) as info:
        host_link.command(SetSearchlight(500, True, 60_000))   # strobe beyond 30 s
    assert info.value.status is AckStatus.OUT_OF_RANGE


def test_no_command_lost_with_corruption_and_drops(virtual_mcu: VirtualMcu,
                                                   host_link: SerialLink) -> None:
    virtual_mcu.faults.corrupt_rate = 0.01
    virtual_mcu.faults.drop_rate = 0.05
    futures = [host_link.submit(SetSearchlight(i % 1001, False, 30_000), deadline_s=60.0)
               for i in range(300)]
    wait(futures, timeout=60)
    statuses = [f.result(timeout=0) for f in futures]
    assert set(statuses) <= {AckStatus.OK, AckStatus.STALE}
    assert host_link.protocol.stats.retries > 0              # the faults did bite
    assert virtual_mcu.protocol.decoder.bad_total > 0
    virtual_mcu.faults.corrupt_rate = virtual_mcu.faults.drop_rate = 0.0
    # the last command wins, whatever order retries arrived in
    host_link.command(SetSearchlight(123, False, 30_000))
    assert virtual_mcu.snapshot()["searchlight_level"] == 0.123


def test_delay_fault_slows_but_does_not_break(virtual_mcu: VirtualMcu,
                                              host_link: SerialLink) -> None:
    virtual_mcu.faults.delay_s = 0.1   # longer than the ack timeout: retries, then dedup
    assert host_link.command(SetLight(LightPattern.FLASH, 200, 30_000)) is AckStatus.OK
    assert virtual_mcu.snapshot()["light_pattern"] == "flash"
    assert virtual_mcu.snapshot()["commands_applied"] == 1


def test_unplug_and_replug_recovers_telemetry_and_commands(virtual_mcu: VirtualMcu,
                                                           host_link: SerialLink) -> None:
    virtual_mcu.unplug(1.0)
    assert wait_until(lambda: host_link.state is LinkState.DOWN, 3.0)
    future = host_link.submit(Safe(True), deadline_s=10.0)   # waits for the port to return
    assert wait_until(lambda: host_link.state is LinkState.UP, 10)  # back up after the replug
    assert future.result(timeout=10.0) is AckStatus.OK
    assert virtual_mcu.snapshot()["safe_reasons"] == ["COMMANDED"]
    assert wait_until(lambda: host_link.telemetry()[1] is not None
                      and host_link.telemetry()[1] < 0.5, 5.0)
    assert host_link.reconnects >= 1


def test_plugging_back_in_ends_a_long_pull_early(virtual_mcu: VirtualMcu,
                                                host_link: SerialLink) -> None:
    virtual_mcu.unplug(60.0)
    assert wait_until(lambda: host_link.state is LinkState.DOWN, 3.0)
    assert not virtual_mcu.plugged
    virtual_mcu.plug_in()                                   # long before the 60 s are up
    assert wait_until(lambda: host_link.state is LinkState.UP, 10)
    assert host_link.command(SetLight(LightPattern.STEADY, 0, 1000)) is AckStatus.OK
    virtual_mcu.plug_in()                                   # already in: nothing changes
    assert virtual_mcu.plugged and host_link.state is LinkState.UP


def test_command_times_out_while_unplugged(virtual_mcu: VirtualMcu,
                                           host_link: SerialLink) -> None:
    virtual_mcu.unplug(30.0)
    with pytest.raises(CommandTimeout):
        host_link.command(SetLight(LightPattern.STEADY, 0, 1000), deadline_s=0.5)


def test_closed_link_refuses_and_mcu_goes_safe(virtual_mcu: VirtualMcu,
                                               host_link: SerialLink) -> None:
    host_link.command(SetLight(LightPattern.ALTERNATE, 200, 30_000))
    host_link.command(SetAmplifier(True, 90, 30_000))
    host_link.close()
    with pytest.raises(LinkDown):
        host_link.submit(Safe(True)).result(timeout=1)
    snap = virtual_mcu.wait_for(lambda s: s["safe"], timeout=5.0)
    assert snap is not None
    assert (snap["light_pattern"], snap["amp_enabled"]) == ("steady", False)
    assert "HEARTBEAT_LOST" in snap["faults"]


@pytest.mark.slow
def test_socket_url_transport(virtual_mcu: VirtualMcu, tmp_path: Path) -> None:
    """`socket://` works too: socat bridges a loopback TCP port to the pty (skipped without socat)."""
    socat = "/usr/bin/socat"
    if not os.path.exists(socat):
        pytest.skip("socat not installed")
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                             f"FILE:{virtual_mcu.link},raw,echo=0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Connect only once socat listens (it serves one connection: no probing connect).
        listening = lambda: any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                                for c in psutil.Process(proc.pid).net_connections(kind="tcp"))
        assert wait_until(listening, 10.0), "socat never listened"
        link = SerialLink(f"socket://127.0.0.1:{port}", LinkConfig()).start()
        try:
            assert link.wait_up(5.0)
            assert link.command(SetSearchlight(250, False, 10_000)) is AckStatus.OK
            assert virtual_mcu.snapshot()["searchlight_level"] == 0.25
        finally:
            link.close()
    finally:
        proc.kill()
        proc.wait(timeout=5)


@pytest.mark.slow
def test_virtual_mcu_console_entry(tmp_path: Path) -> None:
    link_path = tmp_path / "mcu"
    proc = subprocess.Popen([sys.executable, "-m", "firmware_bridge.virtual_mcu",
                             "--link", str(link_path), "--control", str(tmp_path / "mcu.ctl")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        assert wait_until(link_path.exists, 10.0), "the virtual MCU made no symlink"
        with SerialLink(str(link_path)) as link:
            assert link.wait_up(5.0)
            assert link.command(SetLight(LightPattern.FLASH, 150, 10_000)) is AckStatus.OK
            from firmware_bridge.virtual_mcu.control import request
            state = request(tmp_path / "mcu.ctl", {"cmd": "state"})
            assert state["light_pattern"] == "flash"
            request(tmp_path / "mcu.ctl", {"cmd": "faults", "drop_rate": 0.05})
            assert request(tmp_path / "mcu.ctl", {"cmd": "faults"})["drop_rate"] == 0.05
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not link_path.exists()   # clean exit removes the symlink


@pytest.mark.slow
def test_an_mcu_process_serves_apart_and_ends_with_a_killed_parent(tmp_path: Path) -> None:
    """McuProcess (the simulator's MCU): a session of its own, driven by its control socket;
    when its parent is killed outright (no stop() call), it ends and removes its pty link."""
    link_path = tmp_path / "mcu"
    parent = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys\n"
         "from firmware_bridge.virtual_mcu.process import McuProcess\n"
         f"mcu = McuProcess({str(link_path)!r}, seed=3).start()\n"
         "mcu.set_button(True)\n"
         "print(mcu.pid, 'BUTTON' in mcu.snapshot()['safe_reasons'], flush=True)\n"
         "sys.stdin.readline()\n"
         "os.kill(os.getpid(), signal.SIGKILL)\n"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid_text, pressed = parent.stdout.readline().split()
    child = psutil.Process(int(pid_text))
    try:
        assert pressed == "True"
        assert os.getsid(child.pid) == child.pid != parent.pid      # its own session
        assert link_path.exists()
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.wait(timeout=10) == -signal.SIGKILL
        child.wait(timeout=10)                                    # it noticed within 10 s
        assert not link_path.exists()
    finally:
        if child.is_running():
            child.kill()


def test_pushed_events_reach_the_link_owner(virtual_mcu: VirtualMcu) -> None:
    """The button's EVENT, an MCU reboot and a lost port come to `on_event` as they happen."""
    from firmware_bridge.host import EventReceived, McuRebooted
    from firmware_bridge.messages import SafeReason
    from firmware_bridge.transport import LinkLost
    seen: list = []
    with SerialLink(str(virtual_mcu.link), LinkConfig(), on_event=seen.append) as link:
        assert link.wait_up(5.0)
        deadline = time.monotonic() + 10
        while link.protocol.stats.telemetry < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        virtual_mcu.set_button(True)
        happens(lambda: any(isinstance(e, EventReceived)
                               and e.event.safe_reasons & SafeReason.BUTTON for e in seen))
        virtual_mcu.reboot()
        happens(lambda: any(isinstance(e, McuRebooted) for e in seen))
        virtual_mcu.unplug(1.0)
        happens(lambda: any(isinstance(e, LinkLost) for e in seen))


def happens(predicate, timeout: float = 10.0) -> None:
    """Polls `predicate` until true; fails the test after `timeout` s."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
