"""`robot-dog station user|token|migrate`: the station's people, from its own machine.

Whoever can open the station's database (--db, the same as the station's) is its administrator
here: every change is written to the audit log as `local:<login>`.

examples:
  robot-dog station user add 王警官 --role operator         prints a one-time password
  robot-dog station user add alice --role viewer --password-stdin < pw.txt
  robot-dog station user passwd alice                     new one-time password; sessions end
  robot-dog station user role alice commander
  robot-dog station user disable alice                    sessions end, tokens stop at once
  robot-dog station user list
  robot-dog station token create alice --label nightly    shown once
  robot-dog station token create alice --out alice.token  kept in a new 0600 file instead
  robot-dog station token list [alice]
  robot-dog station token revoke 3f2a9c01d4e5
  robot-dog station migrate --fleet var/fleet             old shared operator token -> admin API token
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from robot_dog.cli import command_line
from robot_dog.station.accounts import AccountError, Accounts, ROLES, local_admin
from robot_dog.station.storage import StorageError
from robot_dog.station.storage.accounts import AccountTables

#: Environment variable that may hold an old fleet's operator token (never on a command line).
TOKEN_ENV = "ROBOT_DOG_OPERATOR_TOKEN"
VERBS = ("user", "token", "migrate")


def database_option() -> argparse.ArgumentParser:
    """`--db`, as the station's, for every command that works on the station's database (a
    parent parser)."""
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default="var/station.db", metavar="FILE_OR_URL",
                    help="the station's database: SQLite file or postgresql:// URL")
    return db


def build_parser() -> argparse.ArgumentParser:
    fmt = command_line.HelpFormatter
    parser = argparse.ArgumentParser(prog="robot-dog station", description=__doc__,
                                     formatter_class=fmt)
    db = database_option()
    sub = parser.add_subparsers(dest="verb", required=True, metavar="user|token|migrate")
    user = sub.add_parser("user", help="accounts", formatter_class=fmt).add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = user.add_parser("add", parents=[db], help="a new account (prints a one-time password unless "
                          "--password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    passwd = user.add_parser("passwd", parents=[db], help="a new password (one-time, printed, unless "
                             "--password-stdin); every session of the account ends")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    role = user.add_parser("role", parents=[db], help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for action, summary in (("disable", "refuse its logins, end its sessions, stop its tokens"),
                            ("enable", "let a disabled account log in again")):
        user.add_parser(action, parents=[db], help=summary).add_argument("name")
    user.add_parser("list", parents=[db], help="every account, its role and state")

    token = sub.add_parser("token", help="API tokens", formatter_class=fmt).add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = token.add_parser("create", parents=[db], help="a new API token for an account (shown once)")
    create.add_argument("name")
    create.add_argument("--label", default="", help="what the token is for")
    create.add_argument("--out", type=Path, metavar="FILE", help="write the token to FILE, a "
                        "new file only its owner may read, instead of showing it (for a script: "
                        "Authorization: Bearer $(cat FILE))")
    listing = token.add_parser("list", parents=[db], help="tokens (of one account, or all)")
    listing.add_argument("name", nargs="?")
    token.add_parser("revoke", parents=[db], help="revoke a token at once").add_argument("id")

    migrate = sub.add_parser("migrate", formatter_class=fmt, parents=[db], help="turn an old fleet's shared "
                             "operator token into an admin API token, or say why not")
    migrate.add_argument("--fleet", type=Path, metavar="FLEET_DIR",
                         help="read FLEET_DIR/station/operator.token")
    migrate.add_argument("--operator-token-file", type=Path, metavar="FILE")
    migrate.add_argument("--account", default="operator",
                         help="the admin account the token belongs to from now on")
    return parser


def _password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _new_private_file(path: Path) -> TextIO:
    """`path` created for writing, 0600 from the start; an existing file is never overwritten
    (FileExistsError: it may be another token in use)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w")


def _legacy_token(args: argparse.Namespace) -> str:
    if args.operator_token_file is not None:
        return str(args.operator_token_file.read_text())
    if args.fleet is not None:
        from robot_dog import fleet as fleet_mod
        return fleet_mod.FleetPaths(args.fleet).operator_token.read_text()
    return os.environ.get(TOKEN_ENV, "")


def run(accounts: Accounts, args: argparse.Namespace) -> int:
    me = local_admin(getpass.getuser())
    if args.verb == "user":
        if args.action == "add":
            password = accounts.add_account(me, args.name, args.role, _password(args.password_stdin))
            print(f"account {args.name} ({args.role}) added")
            if not args.password_stdin:
                print(f"one-time password: {password}\n(give it to {args.name} in person; "
                      "change it with `robot-dog station user passwd`)")
        elif args.action == "passwd":
            given = _password(args.password_stdin)
            new = accounts.set_password(me, args.name, given)
            print(f"password of {args.name} changed; every session of it ended")
            if given is None:
                print(f"one-time password: {new}")
        elif args.action == "role":
            accounts.set_role(me, args.name, args.role)
            print(f"{args.name} is now {args.role}")
        elif args.action in ("disable", "enable"):
            accounts.set_disabled(me, args.name, args.action == "disable")
            print(f"{args.name} {args.action}d")
        else:
            for row in accounts.list_accounts(me):
                state = "disabled" if row["disabled"] else "active"
                login = "password" if row["password"] else "API tokens only"
                print(f"{row['name']}\t{row['role']}\t{state}\t{login}")
    elif args.verb == "token":
        if args.action == "create":
            out = _new_private_file(args.out) if args.out is not None else None
            try:
                new = accounts.create_token(me, args.label, args.name)
            except BaseException:  # refused: no empty token file left behind
                if out is not None:
                    out.close()
                    args.out.unlink()
                raise
            if out is None:
                print(f"API token {new.token_id} for {new.account} ({new.label}); shown this "
                      f"once:\n{new.secret}\nuse it as the header  Authorization: Bearer <token>")
            else:
                with out:
                    out.write(new.secret + "\n")
                print(f"API token {new.token_id} for {new.account} ({new.label}) written to "
                      f"{args.out} (0600; the station keeps only its digest)")
        elif args.action == "list":
            for row in accounts.list_tokens(me, args.name or "*"):
                state = "revoked" if row["revoked_at"] else "live"
                print(f"{row['id']}\t{row['account']}\t{state}\t{row['label']}")
        else:
            accounts.revoke_token(me, args.id)
            print(f"API token {args.id} revoked")
    else:
        token = _legacy_token(args)
        migrated = accounts.migrate_operator_token(me, token, args.account)
        print(f"the operator token is now the API token {migrated.token_id} of the admin "
              f"account {migrated.account!r}: scripts keep sending it as `Authorization: Bearer`, "
              "and the audit log names that account (X-Operator is ignored).\nNext: give each "
              "person an account (robot-dog station user add), then revoke this token "
              f"(robot-dog station token revoke {migrated.token_id}) and delete the old file.")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        tables = AccountTables(args.db)
    except Exception as exc:  # noqa: BLE001  (sqlite3 / psycopg errors: one message)
        print(f"robot-dog station: cannot open the station database {args.db}: {exc}",
              file=sys.stderr)
        return 1
    try:
        return run(Accounts(tables), args)
    except (AccountError, StorageError) as exc:
        code = getattr(exc, "code", "storage_error")
        print(f"robot-dog station {args.verb}: {exc} ({code})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"robot-dog station {args.verb}: {exc}", file=sys.stderr)
        return 1
    finally:
        tables.close()
