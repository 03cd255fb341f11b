"""`robot-dog station incidents list|show|export`: the station's incidents, from its own machine.

Reads only (opening, dispatching and closing are the console's, as a commander). Whoever can
open the station's database (--db, the same as the station's) reads as `local:<login>`; an
export is written to the audit log under that name.

examples:
  robot-dog station incidents list --state open
  robot-dog station incidents list --dog dog1 --since 1767225600
  robot-dog station incidents show inc-20270101-120000-3f2a
  robot-dog station incidents export inc-20270101-120000-3f2a > case.json
  robot-dog station incidents export inc-20270101-120000-3f2a --html --lang zh -o case.html
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from robot_dog.cli import command_line
from robot_dog.station.accounts import AccountError, Accounts, local_admin
from robot_dog.station.accounts.cli import database_option
from robot_dog.station.incident_page import LANGUAGES
from robot_dog.station.incident_service import IncidentService
from robot_dog.station.incidents import IncidentRefused
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.backends import _backend
from robot_dog.station.storage.incident_tables import IncidentTables
from robot_dog.station.storage.reads import StorageReads


class _Reads(StorageReads):
    """The storage's reads without its writer thread (the CLI writes no telemetry)."""

    def __init__(self, target: str | Path) -> None:
        self.backend = _backend(target)
        self._reader = self.backend.connect()
        self._read_lock = threading.Lock()


def build_parser() -> argparse.ArgumentParser:
    fmt = command_line.HelpFormatter
    parser = argparse.ArgumentParser(prog="robot-dog station incidents", description=__doc__,
                                     formatter_class=fmt)
    db = database_option()
    sub = parser.add_subparsers(dest="action", required=True, metavar="list|show|export")
    listing = sub.add_parser("list", parents=[db], help="incidents, newest first")
    listing.add_argument("--state", choices=("open", "closed"))
    listing.add_argument("--dog", help="with this dog as a unit or as the alarm's dog")
    listing.add_argument("--officer", help="with this officer as a unit")
    listing.add_argument("--since", type=float, metavar="EPOCH_S", help="open at or after")
    listing.add_argument("--until", type=float, metavar="EPOCH_S", help="opened at or before")
    listing.add_argument("--limit", type=int, default=100)
    show = sub.add_parser("show", parents=[db], help="one incident: timeline, units, evidence")
    show.add_argument("id")
    export = sub.add_parser("export", parents=[db], help="one incident as JSON (or a printable "
                            "HTML page), with its linked evidence and their SHA-256")
    export.add_argument("id")
    export.add_argument("--html", action="store_true", help="the printable page instead of JSON")
    export.add_argument("--lang", choices=LANGUAGES, default="en", help="the page's labels")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    return parser


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z" if ts is not None else "-"


def run(service: IncidentService, args: argparse.Namespace) -> int:
    me = local_admin(getpass.getuser())
    if args.action == "list":
        for doc in service.list_incidents(me, state=args.state, dog=args.dog, officer=args.officer,
                                          since=args.since, until=args.until, limit=args.limit):
            units = ",".join(f"{u['unit']}:{u['status']}" for u in doc["units"]) or "-"
            print(f"{doc['id']}\t{doc['state']}\t{_when(doc['opened_at'])}\t"
                  f"{doc['disposition'] or '-'}\t{units}\t{doc['summary']}")
    elif args.action == "show":
        doc = service.get(me, args.id)
        print(f"{doc['id']}  {doc['state']}  {doc['disposition'] or ''}\n{doc['summary']}")
        for entry in doc["timeline"]:
            print(f"  {_when(entry['at'])}  {entry['by']:<16} {entry['kind']:<17} {entry['unit']:<10} "
                  f"{json.dumps(entry['data'], ensure_ascii=False)}")
        for rec in doc["evidence"]:
            print(f"  evidence {rec['dog']}/{rec['recording']}: {len(rec['items'])} items")
    else:
        text = (service.export_html(me, args.id, args.lang) if args.html else
                json.dumps(service.export_json(me, args.id), ensure_ascii=False, indent=2) + "\n")
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        tables, accounts, reads = IncidentTables(args.db), AccountTables(args.db), _Reads(args.db)
    except Exception as exc:  # noqa: BLE001  (sqlite3 / psycopg errors: one message)
        print(f"robot-dog station incidents: cannot open the station database {args.db}: {exc}",
              file=sys.stderr)
        return 1
    try:
        return run(IncidentService(tables, Accounts(accounts), storage=reads), args)
    except (IncidentRefused, AccountError) as exc:
        print(f"robot-dog station incidents {args.action}: {getattr(exc, 'detail', exc)} "
              f"({exc.code})", file=sys.stderr)
        return 1
    finally:
        tables.close()
        accounts.close()
        reads._reader.close()
