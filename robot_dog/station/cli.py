"""`robot-dog station`: arguments -> StationConfig -> run."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from robot_dog.station.app import StationConfig, run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog station", description=__doc__)
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--db", type=Path, default=Path("var/station.db"), help="SQLite file")
    parser.add_argument("--http-port", type=int, default=8080, help="viewer port on 127.0.0.1")
    parser.add_argument("--duration", type=float, help="stop after N s and print a summary")
    args = parser.parse_args(argv)
    config = StationConfig(args.broker_host, args.broker_port, args.db, args.http_port)
    print(json.dumps(run(config, args.duration), indent=2))
    return 0
