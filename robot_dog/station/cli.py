"""`robot-dog station`: receive what the dogs send, store it, and serve the viewer.

Subscribes to every dog's status, telemetry, events, command results and video on the MQTT
broker, stores them (SQLite file or PostgreSQL), and serves the viewer page, the JSON API and the
live video on http://127.0.0.1:PORT/. With a fleet directory (robot-dog fleet init) it logs in to
the fleet's TLS broker as a station user and operators can send signed commands to the dogs
from the viewer. Runs until Ctrl-C or SIGTERM (exit 0 after a clean stop), then prints a summary.

examples:
  robot-dog station --fleet var/fleet
  robot-dog station --fleet var/fleet --db postgresql://station@127.0.0.1:5432/patrol
  robot-dog station --broker-port 1883 --http-port 0     plain local broker, any free viewer port

the station's people (robot-dog station user --help, docs/security.md "People and roles"):
  robot-dog station user add|passwd|role|disable|enable|list ...   accounts with roles
  robot-dog station token create|list|revoke ...                   per-person API tokens
  robot-dog station migrate --fleet DIR      an old fleet's shared operator token -> admin API token

incidents (docs/station_data.md):
  robot-dog station incidents list|show|export ...                 list, read and export incidents
"""
from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from pathlib import Path

from robot_dog.cli import command_line, ports
from robot_dog import fleet as fleet_mod
from robot_dog.station.accounts.cli import TOKEN_ENV
from robot_dog.station.app import Station, StationConfig, run
from robot_dog.station.storage import StorageError



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-dog station", description=__doc__,
                                     formatter_class=command_line.HelpFormatter)
    parser.add_argument("--broker-host", default="127.0.0.1", metavar="HOST", help="MQTT broker address")
    parser.add_argument("--broker-port", type=int, default=None, metavar="PORT",
                        help="MQTT broker port (default: the fleet's TLS port, else 1883)")
    parser.add_argument("--db", default="var/station.db", metavar="FILE_OR_URL",
                        help="SQLite file, or a postgresql://user@host:port/db URL")
    parser.add_argument("--http-port", type=int, default=8080, metavar="PORT",
                        help="viewer port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--fleet", type=Path, metavar="FLEET_DIR",
                        help="fleet directory (robot-dog fleet init): TLS, station credentials, "
                             "command keys, dog registry (default: none, a plain broker without "
                             "login)")
    parser.add_argument("--user", help="station user of the fleet to log in as (default: the "
                        "fleet's first); one per running station")
    parser.add_argument("--operator-token-file", type=Path, metavar="FILE",
                        help="an old fleet's shared operator token (or "
                             "$ROBOT_DOG_OPERATOR_TOKEN), given on purpose: kept working as the "
                             "admin API token of the account `operator` (as `robot-dog station "
                             "migrate` does), or refused with the reason. The fleet's own "
                             "station/operator.token is never read: the station says to migrate it")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve the pages over HTTPS "
                        "with this certificate (chain) file; needs --tls-key. The session cookie "
                        "is then Secure")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of "
                        "--tls-cert")
    parser.add_argument("--behind-tls", action="store_true", help="TLS ends at a proxy in front "
                        "of the station (it serves the pages over HTTPS): the session cookie is "
                        "Secure, so a browser never sends it over plain HTTP")
    parser.add_argument("--shared-group", metavar="NAME", help="share the storage load with "
                        "other stations running with the same NAME (MQTT shared subscriptions; "
                        "default: none, this station stores everything)")
    parser.add_argument("--no-video", action="store_true", help="store only: no live video for "
                        "the viewer")
    parser.add_argument("--leave-on-exit", action="store_true", help="with --shared-group: on "
                        "Ctrl-C/SIGTERM leave the group for good (the others take over its share) "
                        "instead of keeping its queue for a restart")
    parser.add_argument("--client-id", default="", help="MQTT client id (default: derived from "
                        "the user name; one per station)")
    parser.add_argument("--evidence-dir", type=Path, default=Path("var/station_evidence"),
                        metavar="DIR", help="where uploaded evidence is kept once verified "
                        "(default: %(default)s)")
    parser.add_argument("--evidence-keys", type=Path, metavar="DIR", help="the dogs' evidence "
                        "public keys, <dog>.pub (default: the fleet's station/evidence_keys)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after S seconds and print a summary (default: run until "
                             "Ctrl-C or SIGTERM)")
    return parser


def login_hint(station: Station) -> str:
    """What the person who started the station needs to open the viewer and log in."""
    db = station.config.db
    accounts = station.accounts.tables.accounts()
    lines = [f"\n  viewer:  {station.http.url}"]
    if not any(a.password_hash and not a.disabled for a in accounts):
        lines.append(f"  log in:  no account yet: robot-dog station user add NAME --role admin "
                     f"--db {db}")
    else:
        lines.append(f"  log in:  your account ({len(accounts)} on this station; robot-dog "
                     f"station user list --db {db})")
    if station.legacy_token:
        lines.append(f"  NOTE:    {station.legacy_token}")
    lines.append("  stop:    Ctrl-C (or SIGTERM)\n")
    return "\n".join(lines)


def _tls(parser: argparse.ArgumentParser, cert: Path | None,
         key: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, checked now (a bad pair stops the start
    here with its reason, not later in the web server's thread)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        parser.error("--tls-cert and --tls-key go together")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--tls-cert/--tls-key: {exc}")
    return cert, key


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("user", "token", "migrate"):  # the station's people (its own CLI)
        from robot_dog.station.accounts import cli as accounts_cli
        return accounts_cli.main(argv)
    if argv and argv[0] == "incidents":
        from robot_dog.station import incident_cli
        return incident_cli.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.shared_group and args.fleet and not args.user:
        # Two workers defaulting to the same user would take each other's session over forever.
        parser.error("--shared-group with --fleet needs --user: one station user per worker "
                     "(robot-dog fleet add-user), the broker binds each session to its user")
    if args.http_port and (reason := ports.bind_problem(args.http_port)):
        print(f"robot-dog station: {ports.in_use('viewer', args.http_port, '--http-port', reason)}",
              file=sys.stderr)
        return 1
    tls = _tls(parser, args.tls_cert, args.tls_key)
    token = os.environ.get(TOKEN_ENV) or None
    if args.operator_token_file is not None:
        try:
            token = args.operator_token_file.read_text().strip()
        except OSError as exc:
            parser.error(f"--operator-token-file: {exc}")
        if not token:
            parser.error(f"--operator-token-file: {args.operator_token_file} is empty")
    try:
        port = args.broker_port
        if port is None:
            port = fleet_mod.load_fleet(args.fleet).broker.port if args.fleet else 1883
        config = StationConfig(args.broker_host, port, args.db, args.http_port, args.client_id,
                               args.fleet, args.user, token, args.shared_group,
                               not args.no_video, args.evidence_dir, args.evidence_keys,
                               tls=tls, behind_tls=args.behind_tls)
        summary = run(config, args.duration, leave_on_exit=args.leave_on_exit,
                      # stderr, with the log: stdout stays the summary's JSON alone
                      on_started=lambda station: print(login_hint(station), file=sys.stderr,
                                                       flush=True))
    except (StorageError, fleet_mod.FleetError) as exc:
        print(f"robot-dog station: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not ports.is_in_use(exc):
            raise
        print(f"robot-dog station: {ports.in_use('viewer', args.http_port, '--http-port', exc.strerror)}",
              file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0
