"""`robot-dog`: one command for the stack.

  robot-dog demo [--headless --duration N]          broker + dog stack + station + viewer
  robot-dog launch FILE [NAME:=VALUE ...] [--single-process]
                                                    run a launch file (ROS 2 YAML format)
  robot-dog station [--fleet DIR] [--http-port N]   MQTT ingest, storage, viewer
  robot-dog doctor                                  check what this machine has
  robot-dog payload [--port PATH] VERB ...          bench tool for the payload MCU
  robot-dog fleet ACTION FLEET_DIR ...              credentials, keys and ACL for dogs and stations
  robot-dog evidence verify|export ...              check the recorder's evidence, pack a case
  robot-dog teleop ACTION ...                       handheld pairing code and certificate, keyboard teleop
  robot-dog sim ACTION ...                          simulator tools (export-gazebo, scenarios)
  robot-dog record [-o FILE] [--topics ...]         record live topics to MCAP (size cap)
  robot-dog foxglove [--port N] [--topics ...]      serve live topics to Foxglove on 127.0.0.1
  robot-dog tf-tree [-o FILE.dot]                   draw the live TF tree (Graphviz)

Examples:
  robot-dog demo                                    viewer on http://127.0.0.1:8080/
  robot-dog launch launch/dog.launch.yaml dog:=dog2 broker_port:=8884
  robot-dog fleet init var/fleet --dog dog1 --user station
  robot-dog station --fleet var/fleet
  robot-dog payload --port /tmp/robot_dog_mcu status

`robot-dog COMMAND --help` describes each command and its defaults. The command is on PATH inside
the project's virtual environment; from a checkout, `./dev.sh run robot-dog ...` runs it there.
Ctrl-C and SIGTERM stop any command the same way: services (demo, station, launch) exit 0 after a
clean stop, a one-shot command cut short exits 130 (SIGINT) or 143 (SIGTERM).
"""
from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

import robot_dog
from robot_dog.cli import stopping
from robot_dog.errors import Refused, RobotDogError

# verb -> module exposing main(argv) -> int (or "module:function"); imported lazily so one broken part does not take
# down the others (doctor must run when rclpy does not).
VERBS: dict[str, str] = {
    "demo": "robot_dog.cli.demo",
    "launch": "robot_dog.launch.cli",
    "station": "robot_dog.station.cli",
    "doctor": "robot_dog.cli.doctor",
    "payload": "robot_dog.cli.payload",
    "fleet": "robot_dog.cli.fleet",
    "evidence": "robot_dog.cli.evidence",
    "teleop": "robot_dog.teleop.cli",
    "sim": "sim.cli",
    "record": "robot_dog.devtools.cli:record",
    "foxglove": "robot_dog.devtools.cli:foxglove",
    "tf-tree": "robot_dog.devtools.tf_tree",
}


#: Long-running verbs: a signal is their normal end, so a stop even during start-up exits 0.
SERVICES = frozenset({"demo", "launch", "station", "record", "foxglove"})


def main(argv: list[str] | None = None) -> int:
    stopping.install()  # before anything slow: a stop during start-up is a stop too
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _run(argv)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM that the command did not handle itself
        return 0 if argv and argv[0] in SERVICES else stopping.interrupted_exit_code()
    except RobotDogError as exc:   # every error of ours: one line (with its code), exit 1
        code = f" ({exc.code})" if isinstance(exc, Refused) else ""
        print(f"robot-dog {argv[0] if argv else ''}: {exc}{code}".replace("  ", " "), file=sys.stderr)
        return 1


def _run(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"robot-dog {robot_dog.__version__}")
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"robot-dog: unknown command {verb!r}; one of: {', '.join(VERBS)} "
              "(robot-dog --help)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, _, function = VERBS[verb].partition(":")
    entry: Callable[[list[str]], int] = getattr(importlib.import_module(module), function or "main")
    return entry(rest)


if __name__ == "__main__":
    sys.exit(main())
