"""`robot-dog`: one command for the stack.

  robot-dog demo [--headless --duration N]   broker + dog stack + station + viewer
  robot-dog launch FILE [--single-process]   run a launch file (ROS 2 YAML format)
  robot-dog station [...]                    MQTT ingest, storage, viewer
  robot-dog doctor                           check what this machine has
  robot-dog payload ...                      bench tool for the payload MCU
  robot-dog fleet ...                        credentials, keys and ACL for dogs and stations
  robot-dog sim ...                          simulator tools (export-gazebo, scenarios)
"""
from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

import robot_dog  # noqa: F401  (localhost-only DDS before anything else)

# verb -> module exposing main(argv) -> int; imported lazily so one broken part does not take
# down the others (doctor must run when rclpy does not).
VERBS: dict[str, str] = {
    "demo": "robot_dog.demo",
    "launch": "robot_dog.launch.cli",
    "station": "robot_dog.station.cli",
    "doctor": "robot_dog.doctor",
    "payload": "robot_dog.cli_payload",
    "fleet": "robot_dog.cli_fleet",
    "sim": "sim.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"robot-dog: unknown command {verb!r}; one of: {', '.join(VERBS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    entry: Callable[[list[str]], int] = importlib.import_module(VERBS[verb]).main
    try:
        return entry(rest)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
