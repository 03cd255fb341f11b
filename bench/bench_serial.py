"""Serial link to the payload MCU: round trip, loss under faults, recovery after unplug; then
the payload's e-stop paths through real processes (bench/payload_estop_chain.py).

Real pyserial on a pty against the virtual MCU (in this process, its own thread). A pty moves
bytes at memory speed, not at 115200 baud, so the round trip measures the software path; the
wire time it is compared with is what the same frames take on a real 115200 baud UART
(bytes x 10 / baud). `ROBOT_DOG_BENCH_SERIAL_COMMANDS` lowers the 10,000 fault-run commands (CI).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path

from bench.stats import percentile
from firmware_bridge.codec import encode_frame
from firmware_bridge.errors import CommandError
from firmware_bridge.host import LinkConfig
from firmware_bridge.messages import Ack, AckStatus, SetSearchlight
from firmware_bridge.transport import SerialLink
from firmware_bridge.virtual_mcu.device import VirtualMcu

from bench import payload_estop_chain

BAUD = 115200
RTT_COMMANDS = 2000
FAULT_COMMANDS = int(os.environ.get("ROBOT_DOG_BENCH_SERIAL_COMMANDS", "10000"))


def round_trip(link: SerialLink) -> dict[str, object]:
    command = SetSearchlight(500, False, 10_000)
    wire_bytes = len(encode_frame(command, 1)) + len(encode_frame(Ack(AckStatus.OK, command.TYPE, 1), 1))
    wire_ms = wire_bytes * 10 / BAUD * 1000
    for _ in range(50):  # warm-up
        link.command(command)
    samples = []
    for i in range(RTT_COMMANDS):
        started = time.perf_counter()
        link.command(SetSearchlight(i % 1001, False, 10_000))
        samples.append((time.perf_counter() - started) * 1000)
    p50, p99 = statistics.median(samples), percentile(samples, 0.99, "round trips")
    return {
        "rtt_commands": RTT_COMMANDS,
        "rtt_frame_bytes_cmd_plus_ack": wire_bytes,
        "rtt_wire_time_ms": wire_ms,
        "rtt_p50_ms": p50,
        "rtt_p99_ms": p99,
        "rtt_p50_over_wire": p50 / wire_ms,
        "rtt_p99_over_wire": p99 / wire_ms,
        "rtt_goal_p99_ms": 2 * wire_ms + 2.0,
        "rtt_goal_met": p99 <= 2 * wire_ms + 2.0,
    }


def under_faults(link: SerialLink, mcu: VirtualMcu) -> dict[str, object]:
    mcu.faults.corrupt_rate, mcu.faults.drop_rate = 0.01, 0.05
    applied_before = mcu.commands_applied
    stats = link.protocol.stats
    retries_before, stale, lost = stats.retries, 0, 0
    outstanding: deque[Future[AckStatus]] = deque()
    started = time.monotonic()

    def settle(future: Future[AckStatus]) -> None:
        nonlocal stale, lost
        try:
            if future.result(timeout=30) is AckStatus.STALE:
                stale += 1
        except CommandError:
            lost += 1

    for i in range(FAULT_COMMANDS):
        if len(outstanding) >= 16:
            settle(outstanding.popleft())
        outstanding.append(link.submit(SetSearchlight(i % 1001, False, 10_000), deadline_s=10.0))
    while outstanding:
        settle(outstanding.popleft())
    elapsed = time.monotonic() - started
    mcu.faults.corrupt_rate = mcu.faults.drop_rate = 0.0
    applied = mcu.commands_applied - applied_before
    return {
        "fault_commands": FAULT_COMMANDS,
        "fault_corrupt_byte_rate": 0.01,
        "fault_drop_frame_rate": 0.05,
        "fault_lost_commands": lost,
        "fault_applied_plus_stale": applied + stale,   # == commands: each one took effect once
        "fault_stale_superseded": stale,
        "fault_retries": stats.retries - retries_before,
        "fault_mcu_bad_frames": mcu.protocol.decoder.bad_total,
        "fault_host_bad_frames": link.protocol.decoder.bad_total,
        "fault_mcu_duplicates_suppressed": mcu.protocol.duplicates,
        "fault_commands_per_s": FAULT_COMMANDS / elapsed,
        "fault_elapsed_s": elapsed,
    }


def unplug_replug(link: SerialLink, mcu: VirtualMcu) -> dict[str, object]:
    mcu.unplug(3.0)
    while not mcu.plugged:
        time.sleep(0.001)
    replugged = time.monotonic()
    while True:
        telemetry, age = link.telemetry()
        if telemetry is not None and age is not None and time.monotonic() - age > replugged:
            break
        if time.monotonic() - replugged > 30:
            return {"replug_telemetry_s": float("inf"), "replug_goal_met": False}
        time.sleep(0.002)
    took = time.monotonic() - age - replugged
    return {"unplugged_s": 3.0, "replug_telemetry_s": took, "replug_goal_met": took <= 2.0}


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench_serial_") as tmp:
        with VirtualMcu(Path(tmp) / "mcu", seed=42) as mcu:
            with SerialLink(str(mcu.link), LinkConfig(), baudrate=BAUD) as link:
                if not link.wait_up(5.0):
                    raise RuntimeError(f"no handshake with the virtual MCU: {link.last_error}")
                figures = round_trip(link)
                figures.update(under_faults(link, mcu))
                figures.update(unplug_replug(link, mcu))
    figures.update(payload_estop_chain.run(rtt_ms=float(figures["rtt_p99_ms"])))
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<40} {value}")
