"""`python -m firmware_bridge.virtual_mcu --link /tmp/robot_dog_mcu [--control PATH] [faults]`

Creates a pty, points `--link` at it and serves the payload protocol until SIGINT/SIGTERM (or,
with `--parent PID`, until that process is gone).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from firmware_bridge.virtual_mcu.control import ControlServer
from firmware_bridge.virtual_mcu.device import VirtualMcu
from firmware_bridge.virtual_mcu.faults import LineFaults
from firmware_bridge.virtual_mcu.model import McuModelConfig
from robot_dog.ros.priority import raise_process_priority


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.virtual_mcu",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--link", default="/tmp/robot_dog_mcu",
                        help="symlink to create for the pty (default %(default)s)")
    parser.add_argument("--control", help="Unix socket for fault injection and state (JSON lines)")
    parser.add_argument("--corrupt-rate", type=float, default=0.0, help="per byte, 0..1")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="per frame, 0..1")
    parser.add_argument("--delay", type=float, default=0.0, help="MCU->host latency, s")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="speed-up of battery and thermal physics")
    parser.add_argument("--seed", type=int, default=None, help="fault RNG seed")
    parser.add_argument("--nice", type=int, default=0,
                        help="CPU priority of this process and its session (payload_node's is "
                             "-10); 0 leaves it as started")
    parser.add_argument("--parent", type=int, default=0,
                        help="end when the process with this PID is no longer the parent")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    faults = LineFaults(args.corrupt_rate, args.drop_rate, args.delay)
    try:
        faults.validate()
    except ValueError as exc:
        parser.error(str(exc))
    if args.nice:  # before any thread starts: they inherit it
        refused = raise_process_priority(args.nice)
        if refused:
            print(f"virtual MCU: {refused}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.parent:
        threading.Thread(target=_stop_without_parent, args=(args.parent, stop),
                         name="virtual-mcu-parent", daemon=True).start()
    mcu = VirtualMcu(args.link, McuModelConfig(time_scale=args.time_scale), faults, seed=args.seed)
    mcu.start()
    control = ControlServer(mcu, args.control).start() if args.control else None
    print(f"virtual MCU: {args.link} -> {mcu.slave_name}", flush=True)
    try:
        stop.wait()
    finally:
        if control is not None:
            control.close()
        mcu.stop()
    return 0


def _stop_without_parent(parent: int, stop: threading.Event) -> None:
    """A simulator killed outright (SIGKILL, a crash) cannot stop its MCU: it is reparented."""
    while not stop.wait(0.5):
        if os.getppid() != parent:
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
