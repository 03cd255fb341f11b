"""`robot-dog station`: arguments -> StationConfig -> run."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from robot_dog import fleet as fleet_mod
from robot_dog.station.app import StationConfig, run
from robot_dog.station.storage import StorageError

#: Environment variable that may hold the operator token (secrets never go on a command line).
TOKEN_ENV = "ROBOT_DOG_OPERATOR_TOKEN"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog station", description=__doc__)
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, default=None,
                        help="default: the fleet's TLS port, else 1883")
    parser.add_argument("--db", default="var/station.db",
                        help="SQLite file, or a postgresql://user@host:port/db URL")
    parser.add_argument("--http-port", type=int, default=8080, help="viewer port on 127.0.0.1")
    parser.add_argument("--fleet", type=Path, help="fleet directory (robot-dog fleet init): TLS, "
                        "station credentials, command keys, dog registry, operator token")
    parser.add_argument("--user", help="station user of the fleet (default: the first); one per "
                        "running station: the broker binds each session to its user")
    parser.add_argument("--operator-token-file", type=Path, help="file holding the bearer "
                        "token of the HTTP API (default: $ROBOT_DOG_OPERATOR_TOKEN, else "
                        "FLEET/station/operator.token); never on the command line, where ps "
                        "shows it")
    parser.add_argument("--shared-group", metavar="NAME", help="MQTT 5 shared subscriptions "
                        "$share/NAME/... for telemetry, events and results (several workers)")
    parser.add_argument("--no-video", action="store_true", help="storage-only worker")
    parser.add_argument("--leave-on-exit", action="store_true", help="with --shared-group: on "
                        "Ctrl-C/SIGTERM leave the group for good (unsubscribe, drain, commit, end "
                        "the session) instead of keeping the session for a restart")
    parser.add_argument("--client-id", default="", help="MQTT client id (unique per worker; a "
                        "fleet's broker uses the user name instead)")
    parser.add_argument("--duration", type=float, help="stop after N s and print a summary")
    args = parser.parse_args(argv)
    if args.shared_group and args.fleet and not args.user:
        # Two workers defaulting to the same user would take each other's session over forever.
        parser.error("--shared-group with --fleet needs --user: one station user per worker "
                     "(robot-dog fleet add-user), the broker binds each session to its user")
    port = args.broker_port
    if port is None:
        port = fleet_mod.load_fleet(args.fleet).broker.port if args.fleet else 1883
    token = os.environ.get(TOKEN_ENV) or None
    if args.operator_token_file is not None:
        try:
            token = args.operator_token_file.read_text().strip()
        except OSError as exc:
            parser.error(f"--operator-token-file: {exc}")
        if not token:
            parser.error(f"--operator-token-file: {args.operator_token_file} is empty")
    config = StationConfig(args.broker_host, port, args.db, args.http_port, args.client_id,
                           args.fleet, args.user, token, args.shared_group, not args.no_video)
    try:
        print(json.dumps(run(config, args.duration, leave_on_exit=args.leave_on_exit), indent=2))
    except (StorageError, fleet_mod.FleetError) as exc:
        print(f"robot-dog station: {exc}", file=sys.stderr)
        return 1
    return 0
