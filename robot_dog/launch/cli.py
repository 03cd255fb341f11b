"""`robot-dog launch FILE [NAME:=VALUE ...] [--single-process | --compose] [--shutdown-timeout S]`.

Exit codes: 0 clean stop (also after Ctrl-C or SIGTERM); 1 a required node died (or nodes
failed); 2 bad launch file or usage.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from robot_dog.cli import command_line
from robot_dog.launch import description, runner
from robot_dog.launch.errors import LaunchFileError

_LOGGER = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-dog launch", formatter_class=command_line.HelpFormatter,
        usage="%(prog)s FILE [NAME:=VALUE ...] [--single-process | --compose] [--shutdown-timeout S]",
        description="Run a ROS 2 YAML launch file: one process per node (or all in one with\n"
                    "--single-process), stopped in order on Ctrl-C or SIGTERM (see docs/launch.md).",
        epilog="examples:\n"
               "  robot-dog launch launch/dog.launch.yaml --compose dog:=dog2 broker_port:=8884\n"
               "  robot-dog launch launch/examples/talker_listener.launch.yaml --single-process rate:=5.0\n"
               "Options and NAME:=VALUE arguments may come in any order.")
    parser.add_argument("file", nargs="?", metavar="FILE", help="launch file, e.g. launch/dog.launch.yaml")
    parser.add_argument("overrides", nargs="*", metavar="NAME:=VALUE",
                        help="values of the file's launch arguments (default: the file's own)")
    parser.add_argument("--single-process", action="store_true",
                        help="compose all nodes in this process (one executor)")
    parser.add_argument("--compose", action="store_true",
                        help="compose every node that does not respawn in one child process; "
                             "each node that respawns keeps a process of its own (the dog's "
                             "default: docs/launch.md)")
    parser.add_argument("--without-respawning", action="store_true",
                        help="leave out the nodes that respawn (the composed process of "
                             "--compose runs the file with it)")
    parser.add_argument("--shutdown-timeout", type=float, default=runner.DEFAULT_SHUTDOWN_TIMEOUT_S,
                        metavar="S", help="seconds to wait after SIGTERM to the nodes before SIGKILL")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        # intermixed: `FILE --single-process NAME:=VALUE` works as well as `FILE NAME:=VALUE --single-process`
        options = parser.parse_intermixed_args(argv)
        if options.file is None:
            parser.error("give a launch file, e.g. launch/dog.launch.yaml")
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
    if options.compose and options.single_process:
        print("robot-dog launch: --compose and --single-process exclude each other", file=sys.stderr)
        return EXIT_BAD_INPUT
    if options.without_respawning:
        launch = dataclasses.replace(launch, nodes=tuple(n for n in launch.nodes if not n.respawn))
    try:
        if options.single_process:
            from robot_dog.launch import compose  # rclpy only when composing
            return compose.run(launch)
        return runner.Supervisor(launch, shutdown_timeout_s=options.shutdown_timeout,
                                 compose_argv=[options.file, *options.overrides]
                                 if options.compose else None).run()
    except KeyboardInterrupt:  # a stop before the nodes' handlers were in place: nothing to stop
        return 0
