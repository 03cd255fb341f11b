"""`robot-dog sim`: simulator tools.

  robot-dog sim export-gazebo SCENARIO DIR [--dog NAME]   SDF world + ros_gz_bridge YAML
  robot-dog sim scenarios                                 list the bundled scenarios
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.scenario import SCENARIO_DIR, ScenarioError, load_scenario


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog sim", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    export = verbs.add_parser("export-gazebo", help="write an SDF world and a ros_gz_bridge config")
    export.add_argument("scenario", help="bundled name (e.g. plaza_day) or YAML path")
    export.add_argument("dir", type=Path)
    export.add_argument("--dog", default="dog1", help="model name and ROS namespace")
    verbs.add_parser("scenarios", help="list the bundled scenarios")
    args = parser.parse_args(argv)
    if args.verb == "scenarios":
        for path in sorted(SCENARIO_DIR.glob("*.yaml")):
            print(f"{path.stem:16} {load_scenario(path).description}")
        return 0
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"robot-dog sim: {exc}", file=sys.stderr)
        return 2
    from sim.gazebo import export as export_gazebo
    world, bridge = export_gazebo(scenario, args.dir, args.dog)
    print(f"{world}\n{bridge}")
    return 0
