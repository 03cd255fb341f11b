"""`robot-dog fleet`: create and extend the fleet directory (robot_dog.fleet)."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from robot_dog.cli import command_line
from robot_dog import fleet as fleet_mod

_LOGGER = logging.getLogger(__name__)


FLEET_DIR_HELP = "the fleet directory (holds secrets: keep it private, never commit it)"
EXAMPLES = """examples:
  robot-dog fleet init var/fleet --dog dog1 --user station
  robot-dog fleet add-dog var/fleet dog2 --cert
  robot-dog fleet show var/fleet"""


def build_parser() -> argparse.ArgumentParser:
    fmt = command_line.HelpFormatter
    parser = argparse.ArgumentParser(
        prog="robot-dog fleet", formatter_class=fmt, epilog=EXAMPLES,
        description="Broker TLS, credentials, ACL and per-dog command keys, all in one directory.\n"
                    "`robot-dog fleet ACTION --help` describes each action.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                             formatter_class=fmt)
        cmd.add_argument("out", metavar="FLEET_DIR", help=FLEET_DIR_HELP)
        return cmd

    init = action("init", "create a new fleet directory: CA, broker TLS, a password per dog and "
                  "station user, ACL, per-dog command keys, the station's first admin")
    init.add_argument("--dog", action="append", default=[], metavar="ID",
                      help="dog id (repeat; at least one)")
    init.add_argument("--user", action="append", default=[], metavar="NAME",
                      help="station user (repeat; default: none, add later with add-user)")
    role_help = ("station user's role, USER=ROLE (repeat): viewer (watch only), operator "
                 "(also commands and talk; the default), listener (an operator who may also "
                 "hear the dogs' microphones)")
    init.add_argument("--role", action="append", default=[], metavar="USER=ROLE", help=role_help)
    init.add_argument("--host", default="127.0.0.1", help="broker listen address")
    init.add_argument("--port", type=int, default=8883, help="TLS listener port")
    init.add_argument("--plain-port", type=int, default=None, metavar="PORT",
                      help="also open a plain listener on 127.0.0.1:PORT (default: none)")
    init.add_argument("--run-as", default=None, metavar="USER",
                      help="mosquitto `user` option: the account that can read the 0600 files "
                           "(default: mosquitto's own)")
    init.add_argument("--name", action="append", default=[], dest="extra_names", metavar="NAME",
                      help="extra DNS name or IP for the server certificate (repeat)")
    init.add_argument("--cert-port", type=int, default=None, metavar="PORT",
                      help="also open a TLS listener on PORT where dogs log in with a client "
                      "certificate instead of a password (default: none)")
    init.add_argument("--cert", action="store_true",
                      help="issue every dog a client certificate (dogs/<dog>/client.crt, .key)")
    init.add_argument("--admin", default="admin", metavar="NAME",
                      help="the station's first admin account; its one-time password is printed "
                           "and kept in a 0600 file in FLEET_DIR/station")
    init.add_argument("--db", default=None, metavar="FILE_OR_URL",
                      help="the station's database the first admin goes into (as robot-dog "
                           "station --db; default: station.db beside FLEET_DIR, so var/fleet "
                           "-> var/station.db, the station's default)")

    add_dog = action("add-dog", "add dogs to an existing fleet (then SIGHUP the broker)")
    add_dog.add_argument("dogs", nargs="+", metavar="ID", help="new dog id (one or more)")
    add_dog.add_argument("--cert", action="store_true", help="also issue each a client certificate")

    remove_dog = action("remove-dog", "revoke dogs: registry, passwd, ACL, their files")
    remove_dog.add_argument("dogs", nargs="+", metavar="ID", help="dog id (one or more)")

    cert = action("cert", "(re)issue client certificates to existing dogs (renewal)")
    cert.add_argument("dogs", nargs="+", metavar="ID", help="dog id (one or more)")

    add_user = action("add-user", "add station users to an existing fleet")
    add_user.add_argument("users", nargs="+", metavar="NAME", help="new station user (one or more)")
    add_user.add_argument("--role", action="append", default=[], metavar="USER=ROLE", help=role_help)

    refresh = action("refresh", "rewrite the broker's passwd, ACL and mosquitto.conf from the "
                     "registry (after an upgrade; restart the broker)")
    refresh.add_argument("--role", action="append", default=[], metavar="USER=ROLE",
                         help="change an existing station user's role (repeat; " + role_help.split(
                             ", USER=ROLE (repeat): ", 1)[1])
    refresh.add_argument("--cert-port", type=int, default=None, metavar="PORT",
                         help="also open the client-certificate listener on PORT (default: none)")

    action("show", "list dogs, users and the broker address")
    return parser


def _roles(pairs: Sequence[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        user, sep, role = pair.partition("=")
        if not sep:
            raise fleet_mod.FleetError(f"--role {pair!r}: give USER=ROLE")
        roles[user] = role
    return roles


def _first_admin(fleet: fleet_mod.Fleet, name: str, db: str) -> None:
    """The station's first admin: a one-time password, printed and kept in a 0600 file (the
    admin changes it with `robot-dog station user passwd`, then deletes the file)."""
    from robot_dog.fleet.files import _write_secret
    from robot_dog.station.accounts import AccountError, Accounts, local_admin
    from robot_dog.station.storage.accounts import AccountTables
    tables = AccountTables(db)
    try:
        password = Accounts(tables).add_account(local_admin("fleet-init"), name, "admin")
    except AccountError as exc:
        raise fleet_mod.FleetError(f"first admin {name!r} in {db}: {exc}") from None
    finally:
        tables.close()
    path = fleet.paths.first_admin_password
    _write_secret(path, f"{name}\n{password}\n".encode())
    print(f"first admin of the station ({db}): {name}\n  one-time password: {password}\n"
          f"  (also in {path}, 0600: change it with `robot-dog station user passwd {name} "
          f"--db {db}`, then delete the file)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.action == "init":
            if not args.dog:
                raise fleet_mod.FleetError("give at least one --dog")
            fleet = fleet_mod.init_fleet(args.out, args.dog, args.user, fleet_mod.BrokerSettings(
                host=args.host, port=args.port, plain_port=args.plain_port, run_as=args.run_as,
                extra_names=tuple(args.extra_names), cert_port=args.cert_port), certs=args.cert,
                roles=_roles(args.role))
            _first_admin(fleet, args.admin,
                         args.db or str(Path(args.out).resolve().parent / "station.db"))
        elif args.action == "add-dog":
            fleet = fleet_mod.add_dogs(args.out, args.dogs, certs=args.cert)
        elif args.action == "remove-dog":
            fleet = fleet_mod.remove_dogs(args.out, args.dogs)
        elif args.action == "cert":
            fleet = fleet_mod.issue_certs(args.out, args.dogs)
        elif args.action == "add-user":
            fleet = fleet_mod.add_users(args.out, args.users, _roles(args.role))
        elif args.action == "refresh":
            fleet = fleet_mod.refresh(args.out, cert_port=args.cert_port, roles=_roles(args.role))
        else:
            fleet = fleet_mod.load_fleet(args.out)
    except fleet_mod.FleetError as exc:
        print(f"robot-dog fleet: {exc}", file=sys.stderr)
        return 1
    paths = fleet.paths
    print(f"fleet {fleet.root}")
    print(f"  broker   mqtts://{fleet.broker.host}:{fleet.broker.port}  "
          f"(mosquitto -c {paths.mosquitto_conf})")
    certified = [dog for dog in fleet.dogs if paths.dog_client_cert(dog).exists()]
    if fleet.broker.cert_port:
        print(f"  certs    mqtts://{fleet.broker.host}:{fleet.broker.cert_port}  (client certificate, "
              f"no password): {', '.join(certified) or '-'}")
    elif certified:
        print(f"  certs    issued to {', '.join(certified)}, but no certificate listener "
              "(`fleet refresh --cert-port PORT`)")
    print(f"  dogs     {', '.join(fleet.dogs) or '-'}   (copy {paths.root / 'dogs'}/<dog>/ to each dog)")
    print(f"  users    {', '.join(f'{u} ({fleet.roles.get(u, fleet_mod.DEFAULT_ROLE)})' for u in fleet.users) or '-'}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
