"""`robot-dog station user|token|migrate` and `robot-dog fleet init`'s first admin, run as a
person would (the command's main, its printed output, the database behind it)."""
from __future__ import annotations

import io
import stat

import pytest

from robot_dog.cli import fleet as cli_fleet
from robot_dog.station import cli as station_cli
from robot_dog.station.accounts import Accounts
from robot_dog.station.storage.accounts import AccountTables
from tests.test_station_accounts import cheap_argon2  # noqa: F401  (autouse fixture)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = station_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def accounts_of(db) -> Accounts:
    return Accounts(AccountTables(db))


def test_user_add_prints_a_one_time_password_that_logs_in(tmp_path, capsys):
    db = str(tmp_path / "station.db")
    code, out, _ = run(capsys, "user", "add", "王警官", "--role", "operator", "--db", db)
    assert code == 0
    password = out.split("one-time password: ", 1)[1].split()[0]
    assert accounts_of(db).login("王警官", password, "cli").principal.role == "operator"
    code, _, err = run(capsys, "user", "add", "王警官", "--role", "viewer", "--db", db)
    assert code == 1 and "account_exists" in err
    code, out, _ = run(capsys, "user", "list", "--db", db)
    assert out.splitlines() == ["王警官\toperator\tactive\tpassword"]


def test_passwords_from_stdin_empty_or_huge_are_refused(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "station.db")
    for password in ("", "x" * 100_000):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        code, _, err = run(capsys, "user", "add", "alice", "--role", "viewer", "--password-stdin",
                           "--db", db)
        assert code == 1 and "bad_password" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough one\n"))
    assert run(capsys, "user", "add", "alice", "--role", "viewer", "--password-stdin",
               "--db", db)[0] == 0
    assert accounts_of(db).login("alice", "a long enough one", "cli").principal.name == "alice"


def test_passwd_role_disable_and_tokens(tmp_path, capsys):
    db = str(tmp_path / "station.db")
    run(capsys, "user", "add", "alice", "--role", "viewer", "--db", db)
    code, out, _ = run(capsys, "user", "passwd", "alice", "--db", db)
    new = out.split("one-time password: ", 1)[1].split()[0]
    assert run(capsys, "user", "role", "alice", "operator", "--db", db)[0] == 0
    assert accounts_of(db).login("alice", new, "cli").principal.role == "operator"
    code, out, _ = run(capsys, "token", "create", "alice", "--label", "nightly", "--db", db)
    secret = next(line for line in out.splitlines() if line.startswith("rdt_"))
    token_id = out.split("API token ", 1)[1].split()[0]
    code, out, _ = run(capsys, "token", "list", "--db", db)
    assert out.splitlines() == [f"{token_id}\talice\tlive\tnightly"] and secret not in out
    assert accounts_of(db).is_token(secret)
    assert run(capsys, "token", "revoke", token_id, "--db", db)[0] == 0
    assert not accounts_of(db).is_token(secret)
    assert run(capsys, "user", "disable", "alice", "--db", db)[0] == 0
    assert "disabled" in run(capsys, "user", "list", "--db", db)[1]
    kinds = [e["kind"] for e in AccountTables(db).audit(100)]
    assert {"account_added", "password_changed", "role_changed", "token_created",
            "token_revoked", "account_disabled"} <= set(kinds)


def test_migrate_turns_the_operator_token_into_an_admin_token_or_says_why_not(tmp_path, capsys):
    db = str(tmp_path / "station.db")
    weak = tmp_path / "weak.token"
    weak.write_text("s3cret\n")
    code, _, err = run(capsys, "migrate", "--operator-token-file", str(weak), "--db", db)
    assert code == 1 and "guessable" in err and "migration_refused" in err
    strong = tmp_path / "operator.token"
    strong.write_text("Zq" * 22 + "\n")
    code, out, _ = run(capsys, "migrate", "--operator-token-file", str(strong), "--db", db)
    assert code == 0 and "admin account 'operator'" in out
    assert accounts_of(db).authenticate(cookie=None, authorization="Bearer " + "Zq" * 22,
                                        csrf=None, state_changing=True).role == "admin"
    code, _, err = run(capsys, "migrate", "--operator-token-file", str(strong), "--db", db)
    assert code == 1 and "already" in err


def test_token_create_out_keeps_the_token_in_a_new_private_file_only(tmp_path, capsys):
    db = str(tmp_path / "station.db")
    run(capsys, "user", "add", "ops", "--role", "operator", "--db", db)
    out_file = tmp_path / "ops.token"
    code, out, _ = run(capsys, "token", "create", "ops", "--label", "curl", "--out",
                       str(out_file), "--db", db)
    secret = out_file.read_text().strip()
    assert code == 0 and stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert secret.startswith("rdt_") and secret not in out and str(out_file) in out
    assert accounts_of(db).authenticate(cookie=None, authorization=f"Bearer {secret}", csrf=None,
                                        state_changing=True).name == "ops"
    # an existing file is never overwritten (it may hold a token in use)
    code, _, err = run(capsys, "token", "create", "ops", "--out", str(out_file), "--db", db)
    assert code == 1 and "exists" in err and out_file.read_text().strip() == secret
    # a refused token leaves no empty file behind
    other = tmp_path / "nobody.token"
    code, _, err = run(capsys, "token", "create", "nobody", "--out", str(other), "--db", db)
    assert code == 1 and "unknown_account" in err and not other.exists()


@pytest.mark.slow  # openssl for the fleet's CA
def test_fleet_init_creates_the_first_admin_with_a_0600_one_time_password(tmp_path, capsys):
    out_dir = tmp_path / "fleet"
    assert cli_fleet.main(["init", str(out_dir), "--dog", "dog1", "--port", "18883"]) == 0
    printed = capsys.readouterr().out
    password_file = out_dir / "station" / "first-admin.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    name, password = password_file.read_text().splitlines()
    assert name == "admin" and f"one-time password: {password}" in printed
    principal = accounts_of(tmp_path / "station.db").login(name, password, "cli").principal
    assert principal.role == "admin"
    assert not (out_dir / "station" / "operator.token").exists()   # no shared token any more


def test_the_demo_login_is_ready_and_stays_the_same_from_run_to_run(tmp_path):
    from robot_dog.cli.demo import demo_login
    first = accounts_of(tmp_path / "run1.db")
    name, password = demo_login(first, tmp_path)
    assert stat.S_IMODE((tmp_path / "demo.login").stat().st_mode) == 0o600
    assert first.login(name, password, "page").principal.role == "operator"
    again = accounts_of(tmp_path / "run2.db")  # each demo run starts a fresh database
    assert demo_login(again, tmp_path) == (name, password)
    assert again.login(name, password, "page").principal.name == "demo"


def test_the_demo_api_token_is_the_demo_accounts_new_each_run_and_private(tmp_path):
    from robot_dog.cli.demo import DEMO_TOKEN_FILE, demo_api_token, demo_login
    tokens = []
    for run_db in ("run1.db", "run2.db"):
        accounts = accounts_of(tmp_path / run_db)
        name, _ = demo_login(accounts, tmp_path)
        token = demo_api_token(accounts, name, tmp_path)
        path = tmp_path / DEMO_TOKEN_FILE
        assert path.read_text().strip() == token and stat.S_IMODE(path.stat().st_mode) == 0o600
        who = accounts.authenticate(cookie=None, authorization=f"Bearer {token}", csrf=None,
                                    state_changing=True)
        assert (who.name, who.role, who.via) == ("demo", "operator", "token")
        tokens.append(token)
    assert tokens[0] != tokens[1]


def test_the_last_enabled_admin_cannot_be_disabled_from_the_command_line_either(tmp_path, capsys):
    db = str(tmp_path / "station.db")
    run(capsys, "user", "add", "ada", "--role", "admin", "--db", db)
    for argv in (("user", "disable", "ada"), ("user", "role", "ada", "viewer")):
        code, _, err = run(capsys, *argv, "--db", db)
        assert code == 1 and "(last_admin)" in err, err
    code, out, _ = run(capsys, "user", "list", "--db", db)
    assert out.splitlines() == ["ada\tadmin\tactive\tpassword"]
