"""`robot-dog record` and `robot-dog foxglove`: the live ROS graph to an MCAP file or to a
Foxglove WebSocket server on 127.0.0.1 (docs/ros.md)."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from robot_dog.cli.command_line import HelpFormatter
from robot_dog.devtools.selection import Selection

_LOGGER = logging.getLogger(__name__)

_SELECTION_HELP = """Topics are full names (/dog1/odom, /tf); patterns are shell-style (/dog1/*,
/tf*). Without --topics every topic is taken, including ones that appear later."""


def _selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topics", nargs="+", default=[], metavar="PATTERN",
                        help="take only these topics (default: every topic)")
    parser.add_argument("--exclude", nargs="+", default=[], metavar="PATTERN",
                        help="leave these topics out")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (0: until Ctrl-C)")
    parser.add_argument("--use-sim-time", action="store_true",
                        help="log times from /clock (a simulator run with publish_clock:=true)")


def _spin(sink: object, args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from robot_dog.devtools.tap import Tap
    from robot_dog.ros import dds_env
    from robot_dog.ros.teardown import end_ros

    dds_env.apply()   # localhost-only discovery (large samples: images come in) before rclpy.init
    rclpy.init(args=[])
    tap = None
    try:
        tap = Tap(sink, Selection(tuple(args.topics), tuple(args.exclude)),  # type: ignore[arg-type]
                  parameter_overrides=[Parameter("use_sim_time", value=args.use_sim_time)])
        executor = SingleThreadedExecutor()
        executor.add_node(tap)
        end = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        try:
            while rclpy.ok() and not tap.full and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.2)
        except KeyboardInterrupt:
            pass
        _LOGGER.info("%d messages from %d topics", tap.received, len(tap.topics))
        return 0
    finally:
        end_ros([tap])  # within a deadline: Fast DDS can spin in it (ros/teardown.py)


def record(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="robot-dog record", formatter_class=HelpFormatter,
        description="Record live topics to an MCAP file (ROS 2 CDR, as rosbag2 writes it; "
                    "Foxglove and `ros2 bag` read it).", epilog=_SELECTION_HELP)
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="file to write (default: var/recordings/dog-<UTC time>.mcap)")
    parser.add_argument("--max-size", type=float, default=500.0, metavar="MB",
                        help="stop once this many MB of messages are written (0: no cap)")
    _selection_args(parser)
    args = parser.parse_args(argv)
    from robot_dog.devtools.mcap_file import McapFile

    path = args.output or Path("var/recordings") / time.strftime("dog-%Y%m%dT%H%M%SZ.mcap", time.gmtime())
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = McapFile(path, int(args.max_size * 1e6))
    _LOGGER.info("recording to %s (cap %s)", path, f"{args.max_size:g} MB" if args.max_size else "none")
    try:
        return _spin(sink, args)
    finally:
        sink.close()
        _LOGGER.info("%s: %d messages, %.1f MB", path, sink.messages, sink.bytes / 1e6)


def foxglove(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="robot-dog foxglove", formatter_class=HelpFormatter,
        description="Serve live topics to the Foxglove app (WebSocket on 127.0.0.1; open "
                    "ws://127.0.0.1:PORT in Foxglove, docs/ros.md).", epilog=_SELECTION_HELP)
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free one)")
    _selection_args(parser)
    args = parser.parse_args(argv)
    from robot_dog.devtools.foxglove_server import FoxgloveServer

    server = FoxgloveServer(port=args.port)
    print(f"foxglove: ws://127.0.0.1:{server.port}", flush=True)
    try:
        return _spin(server, args)
    finally:
        server.close()
