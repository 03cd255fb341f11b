"""`robot-dog launch FILE [NAME:=VALUE ...] [--single-process] [--shutdown-timeout S]`.

Exit codes: 0 clean stop; 1 a required node died (or nodes failed); 2 bad launch file or usage.
"""
from __future__ import annotations

import argparse
import logging
import sys

from robot_dog.launch import description, runner
from robot_dog.launch.errors import LaunchFileError

_LOGGER = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-dog launch", description="Run a ROS 2 YAML launch file (see docs/launch.md).")
    parser.add_argument("file", help="launch file, e.g. launch/dog.launch.yaml")
    parser.add_argument("overrides", nargs="*", metavar="NAME:=VALUE", help="launch argument values")
    parser.add_argument("--single-process", action="store_true",
                        help="compose all nodes in this process (one MultiThreadedExecutor)")
    parser.add_argument("--shutdown-timeout", type=float, default=runner.DEFAULT_SHUTDOWN_TIMEOUT_S,
                        metavar="S", help="seconds to wait after SIGINT, then after SIGTERM "
                                          "(default %(default)s)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if options.shutdown_timeout <= 0:
        print("robot-dog launch: --shutdown-timeout must be > 0", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="[launch] %(message)s", stream=sys.stderr)
    try:
        overrides = description.parse_overrides(options.overrides, options.file)
        launch = description.load(options.file, overrides)
    except LaunchFileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    if options.single_process:
        from robot_dog.launch import compose  # rclpy only when composing
        return compose.run(launch)
    return runner.Supervisor(launch, shutdown_timeout_s=options.shutdown_timeout).run()
