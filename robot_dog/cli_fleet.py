"""`robot-dog fleet`: create and extend the fleet directory (robot_dog.fleet)."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from robot_dog import fleet as fleet_mod

_LOGGER = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robot-dog fleet",
        description="Broker TLS, credentials, ACL and per-dog command keys, all in one directory.")
    sub = parser.add_subparsers(dest="action", required=True)

    init = sub.add_parser("init", help="create a new fleet directory")
    init.add_argument("out", help="output directory (holds secrets: keep it private)")
    init.add_argument("--dog", action="append", default=[], metavar="ID", help="dog id (repeat)")
    init.add_argument("--user", action="append", default=[], metavar="NAME",
                      help="station user (repeat)")
    init.add_argument("--host", default="127.0.0.1", help="broker listen address (default %(default)s)")
    init.add_argument("--port", type=int, default=8883, help="TLS listener port (default %(default)s)")
    init.add_argument("--plain-port", type=int, default=None,
                      help="also open a plain listener on 127.0.0.1:PORT (off by default)")
    init.add_argument("--run-as", default=None, metavar="USER",
                      help="mosquitto `user` option: the account that can read the 0600 files")
    init.add_argument("--name", action="append", default=[], dest="extra_names",
                      help="extra DNS name or IP for the server certificate (repeat)")

    add_dog = sub.add_parser("add-dog", help="add dogs to an existing fleet")
    add_dog.add_argument("out")
    add_dog.add_argument("dogs", nargs="+", metavar="ID")

    add_user = sub.add_parser("add-user", help="add station users to an existing fleet")
    add_user.add_argument("out")
    add_user.add_argument("users", nargs="+", metavar="NAME")

    refresh = sub.add_parser("refresh", help="rewrite the broker's passwd, ACL and mosquitto.conf "
                             "from the registry (after an upgrade; restart the broker)")
    refresh.add_argument("out")

    show = sub.add_parser("show", help="list dogs, users and the broker address")
    show.add_argument("out")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.action == "init":
            if not args.dog:
                raise fleet_mod.FleetError("give at least one --dog")
            fleet = fleet_mod.init_fleet(args.out, args.dog, args.user, fleet_mod.BrokerSettings(
                host=args.host, port=args.port, plain_port=args.plain_port, run_as=args.run_as,
                extra_names=tuple(args.extra_names)))
        elif args.action == "add-dog":
            fleet = fleet_mod.add_dogs(args.out, args.dogs)
        elif args.action == "add-user":
            fleet = fleet_mod.add_users(args.out, args.users)
        elif args.action == "refresh":
            fleet = fleet_mod.refresh(args.out)
        else:
            fleet = fleet_mod.load_fleet(args.out)
    except fleet_mod.FleetError as exc:
        print(f"robot-dog fleet: {exc}", file=sys.stderr)
        return 1
    paths = fleet.paths
    print(f"fleet {fleet.root}")
    print(f"  broker   mqtts://{fleet.broker.host}:{fleet.broker.port}  "
          f"(mosquitto -c {paths.mosquitto_conf})")
    print(f"  dogs     {', '.join(fleet.dogs) or '-'}   (copy {paths.root / 'dogs'}/<dog>/ to each dog)")
    print(f"  users    {', '.join(fleet.users) or '-'}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
