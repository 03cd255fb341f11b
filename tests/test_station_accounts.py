"""The station's people (robot_dog/station/accounts): logins, lockouts, sessions, API tokens,
roles and the append-only audit log, on a fake clock, against SQLite and a real PostgreSQL."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from hypothesis import given, settings, strategies as st

from robot_dog.station.accounts import ACTIONS, ROLES, Accounts, allowed, local_admin
from robot_dog.station.accounts import credentials, errors
from robot_dog.station.accounts.access import ABSOLUTE_S, IDLE_S
from robot_dog.station.storage.accounts import AUDIT_SQL, AccountTables

REPO = Path(__file__).resolve().parents[1]
ADMIN = local_admin("test")
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "station.db"
    return request.getfixturevalue("postgres").fresh_db()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    """Real argon2id at its smallest cost: these tests are about the policy, and the station's
    own parameters are checked (and benchmarked, bench/bench_accounts_login.py) apart."""
    cheap = PasswordHasher(type=Type.ID, time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(credentials, "_HASHER", cheap)
    monkeypatch.setattr(credentials, "_DUMMY_HASH", cheap.hash("dummy"))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def accounts(target, clock):
    tables = AccountTables(target)
    yield Accounts(tables, clock=clock)
    tables.close()


def kinds(accounts: Accounts, **filters) -> list[tuple[str, str, bool]]:
    return [(e["kind"], e["target"], e["ok"]) for e in reversed(accounts.tables.audit(1000, **filters))]


def test_passwords_are_kept_as_argon2id_with_the_station_parameters(accounts):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    stored = accounts.tables.account("alice").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    # a hash made with other parameters is re-made with the station's at the next login
    monkey = credentials._HASHER
    assert credentials.needs_rehash(stored) is False
    station = PasswordHasher(type=Type.ID, **credentials.ARGON2)
    assert station.check_needs_rehash(stored)  # the cheap test hash is not the station's
    assert credentials.ARGON2["memory_cost"] >= 19 * 1024 and credentials.ARGON2["time_cost"] >= 2
    assert monkey is credentials._HASHER


def test_login_gives_a_session_and_every_outcome_is_audited(accounts):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    new = accounts.login("alice", PASSWORD, "10.0.0.1")
    assert new.principal.name == "alice" and new.principal.role == "operator"
    assert len(new.session_id) >= 43 and new.csrf == credentials.csrf_for(new.session_id)
    # the id is kept only as its digest: the database logs no one in
    assert accounts.tables.session(new.session_id) is None
    assert accounts.session(new.session_id).name == "alice"
    for name, password in (("alice", "wrong password"), ("bob", PASSWORD)):
        with pytest.raises(errors.BadCredentials) as refused:
            accounts.login(name, password, "10.0.0.1")
        assert refused.value.status == 401 and refused.value.code == "bad_credentials"
    failed = [e for e in accounts.tables.audit(10, kind="login_failed")]
    assert {e["detail"]["reason"] for e in failed} == {"wrong_password", "unknown_account"}
    assert kinds(accounts, kind="login") == [("login", "alice", True)]
    assert accounts.tables.audit(10, kind="account_added")[0]["actor"] == "local:test"


def test_wrong_passwords_lock_the_account_out_whatever_the_address(accounts, clock):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    for i in range(5):
        with pytest.raises(errors.BadCredentials):
            accounts.login("alice", f"guess {i}", f"10.0.0.{i}")  # five addresses, one account
    with pytest.raises(errors.LockedOut) as locked:
        accounts.login("alice", PASSWORD, "10.9.9.9")  # even the right password, from anywhere
    assert locked.value.status == 429 and 29 < locked.value.retry_after_s <= 30
    assert ("lockout", "alice", False) in kinds(accounts)
    clock.now += 31
    assert accounts.login("alice", PASSWORD, "10.9.9.9").principal.name == "alice"


def test_wrong_passwords_from_one_address_lock_that_address_out_for_every_name(accounts, clock):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    for i in range(20):
        with pytest.raises(errors.BadCredentials):
            accounts.login(f"name{i}", "wrong password", "10.0.0.7")  # 20 names, one address
    with pytest.raises(errors.LockedOut):
        accounts.login("alice", PASSWORD, "10.0.0.7")
    assert accounts.login("alice", PASSWORD, "10.0.0.8").principal.name == "alice"
    assert ("lockout", "10.0.0.7", False) in kinds(accounts)


def test_a_lockout_is_refused_without_a_password_check_and_doubles(accounts, clock, monkeypatch):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    for _ in range(5):
        with pytest.raises(errors.BadCredentials):
            accounts.login("alice", "wrong password", "a")
    checked = []
    monkeypatch.setattr(credentials, "verify_password", lambda *a: checked.append(a) or True)
    with pytest.raises(errors.LockedOut):
        accounts.login("alice", PASSWORD, "a")
    assert checked == []  # a guess during a lockout tells nothing
    monkeypatch.undo()
    clock.now += 31
    for _ in range(5):
        with pytest.raises(errors.BadCredentials):
            accounts.login("alice", "wrong password", "b")
    with pytest.raises(errors.LockedOut) as locked:
        accounts.login("alice", PASSWORD, "b")
    assert 59 < locked.value.retry_after_s <= 60


def test_sessions_end_after_idle_and_absolute_timeouts(accounts, clock):
    accounts.add_account(ADMIN, "alice", "viewer", PASSWORD)
    idle = accounts.login("alice", PASSWORD, "a")
    clock.now += IDLE_S - 1
    assert accounts.session(idle.session_id).name == "alice"   # a request keeps it alive
    clock.now += IDLE_S - 1
    assert accounts.session(idle.session_id).name == "alice"
    clock.now += IDLE_S + 1
    with pytest.raises(errors.SessionExpired):
        accounts.session(idle.session_id)
    with pytest.raises(errors.NotAuthenticated):  # and it is gone
        accounts.session(idle.session_id)
    busy = accounts.login("alice", PASSWORD, "a")
    start = clock.now
    while clock.now + 600 - start < ABSOLUTE_S:
        clock.now += 600
        accounts.session(busy.session_id)
    clock.now = start + ABSOLUTE_S + 1
    with pytest.raises(errors.SessionExpired):
        accounts.session(busy.session_id)
    assert [k for k, _, _ in kinds(accounts)].count("session_expired") == 2


def test_csrf_is_needed_for_state_changes_with_a_session_not_with_a_token(accounts):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    new = accounts.login("alice", PASSWORD, "a")
    common = dict(cookie=new.session_id, authorization=None, address="a")
    assert accounts.authenticate(csrf=None, state_changing=False, **common).name == "alice"
    for csrf in (None, "", "0" * 64, credentials.csrf_for("another session")):
        with pytest.raises(errors.CsrfRefused) as refused:
            accounts.authenticate(csrf=csrf, state_changing=True, **common)
        assert refused.value.status == 403
    assert accounts.authenticate(csrf=new.csrf, state_changing=True, **common).name == "alice"
    token = accounts.create_token(accounts.session(new.session_id), "script")
    who = accounts.authenticate(cookie=None, authorization=f"Bearer {token.secret}", csrf=None,
                                state_changing=True)
    assert (who.name, who.via, who.credential) == ("alice", "token", token.token_id)


def test_logout_everywhere_and_a_disabled_account_end_live_sessions(accounts):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    phone, desk = (accounts.login("alice", PASSWORD, a) for a in ("a", "b"))
    accounts.logout_everywhere(accounts.session(phone.session_id))
    for s in (phone, desk):
        with pytest.raises(errors.NotAuthenticated):
            accounts.session(s.session_id)
    live = accounts.login("alice", PASSWORD, "a")
    token = accounts.create_token(ADMIN, "cron", "alice")
    accounts.set_disabled(ADMIN, "alice")
    with pytest.raises(errors.NotAuthenticated):
        accounts.session(live.session_id)
    with pytest.raises(errors.NotAuthenticated):
        accounts.authenticate(cookie=None, authorization=f"Bearer {token.secret}", csrf=None,
                              state_changing=False)
    with pytest.raises(errors.BadCredentials):  # same answer as a wrong password
        accounts.login("alice", PASSWORD, "a")
    assert accounts.tables.audit(1, kind="login_failed")[0]["detail"]["reason"] == "disabled"
    accounts.set_disabled(ADMIN, "alice", False)
    assert accounts.login("alice", PASSWORD, "a").principal.name == "alice"


def test_api_tokens_are_shown_once_kept_hashed_listed_and_revoked_at_once(accounts):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    accounts.add_account(ADMIN, "bob", "operator", PASSWORD)
    alice = accounts.session(accounts.login("alice", PASSWORD, "a").session_id)
    bob = accounts.session(accounts.login("bob", PASSWORD, "a").session_id)
    token = accounts.create_token(alice, "nightly report")
    assert token.secret.startswith("rdt_") and len(token.secret) > 40
    listed = accounts.list_tokens(alice)
    assert [(t["id"], t["label"], t["revoked_at"]) for t in listed] == [
        (token.token_id, "nightly report", None)]
    assert token.secret not in repr(listed) and token.secret not in repr(accounts.tables.tokens())
    with pytest.raises(errors.Forbidden):
        accounts.revoke_token(bob, token.token_id)     # not his
    with pytest.raises(errors.Forbidden):
        accounts.list_tokens(bob, "alice")
    bearer = dict(cookie=None, authorization=f"Bearer {token.secret}", csrf=None,
                  state_changing=True)
    assert accounts.authenticate(**bearer).name == "alice"
    accounts.revoke_token(alice, token.token_id)
    with pytest.raises(errors.NotAuthenticated):
        accounts.authenticate(**bearer)
    with pytest.raises(errors.UnknownToken):
        accounts.revoke_token(alice, "ffffffffffff")
    assert [k for k, _, _ in kinds(accounts)].count("token_refused") == 1
    assert ("token_revoked", "alice", True) in kinds(accounts)


def test_role_table_covers_every_role_and_refuses_what_it_does_not_name(accounts):
    assert set().union(*ACTIONS.values()) == set(ROLES)
    assert allowed("operator", "command") and allowed("operator", "estop")
    assert not allowed("viewer", "command") and not allowed("viewer", "estop")
    assert not allowed("admin", "no such action")
    accounts.add_account(ADMIN, "vera", "viewer", PASSWORD)
    vera = accounts.session(accounts.login("vera", PASSWORD, "a").session_id)
    with pytest.raises(errors.Forbidden) as refused:
        accounts.authorize(vera, "command", "dog1", "a")
    assert refused.value.status == 403
    denied = accounts.tables.audit(1, kind="denied")[0]
    assert (denied["actor"], denied["target"], denied["detail"]["action"]) == ("vera", "dog1", "command")
    for action in ("accounts", "tokens", "audit"):
        with pytest.raises(errors.Forbidden):
            accounts.authorize(vera, action)
    with pytest.raises(errors.Forbidden):
        accounts.add_account(vera, "mallory", "admin", PASSWORD)


def test_role_changes_are_audited_with_old_and_new(accounts):
    accounts.add_account(ADMIN, "alice", "viewer", PASSWORD)
    accounts.set_role(ADMIN, "alice", "commander")
    entry = accounts.tables.audit(1, kind="role_changed")[0]
    assert entry["detail"] == {"old": "viewer", "new": "commander"}
    with pytest.raises(errors.BadRole):
        accounts.set_role(ADMIN, "alice", "god")


def test_the_last_enabled_admin_stays(accounts):
    accounts.add_account(ADMIN, "ada", "admin", PASSWORD)
    for change in (lambda: accounts.set_disabled(ADMIN, "ada"),
                   lambda: accounts.set_role(ADMIN, "ada", "operator")):
        with pytest.raises(errors.LastAdmin) as refused:
            change()
        assert (refused.value.code, refused.value.status) == ("last_admin", 409)
    row = accounts.tables.account("ada")
    assert (row.role, row.disabled) == ("admin", False)
    assert [k for k in kinds(accounts, actor=ADMIN.name) if not k[2]] == [
        ("account_disabled", "ada", False), ("role_changed", "ada", False)]
    accounts.add_account(ADMIN, "bea", "admin", PASSWORD)
    accounts.set_disabled(ADMIN, "bea")            # a disabled admin does not count
    with pytest.raises(errors.LastAdmin):
        accounts.set_role(ADMIN, "ada", "viewer")
    accounts.set_disabled(ADMIN, "bea", False)
    accounts.set_role(ADMIN, "ada", "viewer")      # bea is left
    accounts.set_disabled(ADMIN, "ada")            # not an admin any more: no guard
    assert accounts.set_password(ADMIN, "ada") != PASSWORD   # one-time, returned once


def test_an_officer_acts_only_on_its_paired_dogs(accounts):
    accounts.add_account(ADMIN, "olga", "officer", PASSWORD)
    accounts.add_account(ADMIN, "otto", "operator", PASSWORD)
    olga = accounts.session(accounts.login("olga", PASSWORD, "a").session_id)
    otto = accounts.session(accounts.login("otto", PASSWORD, "a").session_id)
    with pytest.raises(errors.DogNotPaired):
        accounts.authorize(olga, "command", "dog1")
    with pytest.raises(errors.Forbidden):                     # a list it does not filter
        accounts.authorize(olga, "watch", "")
    accounts.authorize(olga, "watch", "", filtered=True)     # a list filtered by visible_dogs
    assert accounts.visible_dogs(olga) == frozenset() and accounts.visible_dogs(otto) is None
    with pytest.raises(errors.UnknownOfficer):
        accounts.officer_for_pairing(otto, "dog1", "nobody")
    assert accounts.officer_for_pairing(otto, "dog1", "olga") == "olga"
    accounts.paired(otto, "dog1", "olga")
    accounts.authorize(olga, "command", "dog1")
    accounts.authorize(olga, "estop", "dog1")
    with pytest.raises(errors.DogNotPaired):
        accounts.authorize(olga, "command", "dog2")
    with pytest.raises(errors.Forbidden):                     # no pairing codes of its own
        accounts.officer_for_pairing(olga, "dog1", "olga")
    accounts.paired(otto, "dog1", "otto")                     # one officer per dog's handheld
    with pytest.raises(errors.DogNotPaired):
        accounts.authorize(olga, "command", "dog1")
    accounts.paired(otto, "dog2", "olga")
    accounts.unpaired(otto, "dog2")
    assert accounts.visible_dogs(olga) == frozenset()
    assert [k[0] for k in kinds(accounts, actor="otto")][-4:] == [
        "pairing", "pairing", "pairing", "unpairing"]


@pytest.mark.parametrize("name", ["王警官", "<script>alert(1)</script>", "O'Brien & Sons", "Ω" * 64])
def test_names_in_any_script_are_kept_as_given(accounts, name):
    accounts.add_account(ADMIN, name, "operator", PASSWORD)
    assert accounts.login(name, PASSWORD, "a").principal.name == name
    assert accounts.tables.audit(1, kind="login")[0]["actor"] == name


@pytest.mark.parametrize("name", ["", " alice", "alice ", "a\nb", "a\x00b", "a\u202eb", "x" * 65, 7])
def test_bad_names_are_refused_cleanly(accounts, name):
    with pytest.raises(errors.BadName):
        accounts.add_account(ADMIN, name, "operator", PASSWORD)
    with pytest.raises(errors.BadName):
        accounts.login(name, PASSWORD, "a")


@pytest.mark.parametrize("password", ["", "x" * 100_000, None, 12345])
def test_empty_huge_or_non_text_passwords_are_refused_before_any_hash(accounts, password,
                                                                      monkeypatch):
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    monkeypatch.setattr(credentials, "verify_password", lambda *a: pytest.fail("hashed"))
    with pytest.raises(errors.BadPassword) as refused:
        accounts.login("alice", password, "a")
    assert refused.value.status == 400
    if isinstance(password, str):
        with pytest.raises(errors.BadPassword):
            accounts.add_account(ADMIN, "bob", "operator", password)
    assert accounts.tables.audit(1, kind="login_failed")[0]["detail"]["reason"] == "bad_password"


def test_migration_keeps_a_strong_operator_token_as_an_admin_api_token_or_refuses(accounts):
    with pytest.raises(errors.MigrationRefused, match="guessable"):
        accounts.migrate_operator_token(ADMIN, "s3cret")
    old = "x" * 43
    new = accounts.migrate_operator_token(ADMIN, old)
    who = accounts.authenticate(cookie=None, authorization=f"Bearer {old}", csrf=None,
                                state_changing=True)
    assert (who.name, who.role, who.credential) == ("operator", "admin", new.token_id)
    with pytest.raises(errors.MigrationRefused, match="already"):
        accounts.migrate_operator_token(ADMIN, old)
    accounts.add_account(ADMIN, "ops", "viewer", PASSWORD)
    with pytest.raises(errors.MigrationRefused, match="exists as a viewer"):
        accounts.migrate_operator_token(ADMIN, "y" * 43, "ops")
    with pytest.raises(errors.BadCredentials):  # the migrated account has no password
        accounts.login("operator", "anything at all", "a")


def test_audit_pages_and_filters(accounts):
    accounts.add_account(ADMIN, "alice", "admin", PASSWORD)
    for i in range(7):
        accounts.record("command", "alice", f"dog{i % 2}", verb="siren", nonce=str(i))
    alice = accounts.session(accounts.login("alice", PASSWORD, "a").session_id)
    first = accounts.audit_page(alice, 3, kind="command")
    second = accounts.audit_page(alice, 3, kind="command", before_id=first[-1]["id"])
    nonces = [e["detail"]["nonce"] for e in first + second]
    assert nonces == ["6", "5", "4", "3", "2", "1"]
    assert {e["target"] for e in accounts.audit_page(alice, 100, target="dog1")} == {"dog1"}


def test_no_statement_in_the_station_updates_or_deletes_the_audit_table():
    """Append-only: the audit table is written by one INSERT and read by one SELECT."""
    assert [s.split()[0] for s in AUDIT_SQL] == ["INSERT", "SELECT"]
    pattern = re.compile(r"\b(UPDATE\s+audit|DELETE\s+FROM\s+audit|DROP\s+TABLE\s+audit|"
                         r"TRUNCATE\s+audit|INTO\s+audit\b.*ON\s+CONFLICT)", re.IGNORECASE)
    offenders = [f"{path.relative_to(REPO)}: {m.group(0)}"
                 for path in (REPO / "robot_dog").rglob("*.py")
                 for m in pattern.finditer(path.read_text())]
    assert offenders == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_a_name_is_accepted_only_as_one_printable_line(text):
    try:
        name = credentials.check_name(text)
    except errors.BadName:
        return
    assert name == unicodedata.normalize("NFC", name) == credentials.check_name(name)
    assert 1 <= len(name) <= credentials.MAX_NAME_CHARS and name == name.strip()
    assert all(c == " " or unicodedata.category(c)[0] not in "CZ" for c in name)
    # and the command envelope's `issuer` pattern takes it (it is signed into commands)
    assert re.fullmatch("[^\u0000-\u001f\u007f-\u009f\u2028\u2029]{1,64}", name)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(ROLES), st.sampled_from(sorted(ACTIONS)))
def test_allowed_is_the_table(role, action):
    assert allowed(role, action) == (role in ACTIONS[action])


def test_the_dog_signs_its_result_with_the_issuer_it_acted_for():
    """The signed command carries the account's name (any script); the dog's signed result
    names it back, so the dog's result shows who too."""
    from robot_dog.mqtt import results, schema, signing
    command_key, result_key = signing.new_key(), signing.new_key()
    payload = signing.sign(command_key, dog="dog1", verb="siren", args={"tone": "wail"},
                           now=1_800_000_000.0, issuer="王警官")
    command = signing.verify(payload, dog="dog1", public_key=command_key.public_key(),
                             now=1_800_000_000.0, replay=signing.ReplayCache())
    assert command.issuer == "王警官"
    doc = schema.decode("result", results.ResultSigner(
        "dog1", result_key, lambda: 1_800_000_000.0).result("ok", command=command))
    results.verify(doc, result_key.public_key())
    assert doc["issuer"] == "王警官"
    with pytest.raises(ValueError):  # a control character cannot be signed in as a name
        signing.sign(command_key, dog="dog1", verb="siren", args={}, now=1.0, issuer="a\nb")


def test_concurrent_logins_each_get_their_own_session(accounts):
    import threading
    accounts.add_account(ADMIN, "alice", "operator", PASSWORD)
    sessions, failures = [], []

    def log_in(i: int) -> None:
        try:
            sessions.append(accounts.login("alice", PASSWORD, f"10.0.0.{i}").session_id)
        except Exception as exc:  # noqa: BLE001  (collected, asserted below)
            failures.append(exc)
    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == [] and len(set(sessions)) == 8
    assert all(accounts.session(s).name == "alice" for s in sessions)
    assert len(accounts.tables.sessions_of("alice")) == 8
