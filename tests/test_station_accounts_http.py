"""The station's people over HTTP, from outside: the real StationHttp on SQLite and PostgreSQL,
plain HTTP clients. Logins set the session cookie, roles are enforced by the server on every
route, CSRF and API tokens are checked, and the signed command names the account."""
from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import pytest

from robot_dog.mqtt import signing
from robot_dog.station.accounts import Accounts, local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.web import ROUTE_ACTIONS, StationHttp
from tests.fixtures.command_keys import command_keys
from tests.test_station_accounts import Clock, cheap_argon2  # noqa: F401  (autouse fixture)

ADMIN = local_admin("test")
PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "station.db"
    return request.getfixturevalue("postgres").fresh_db()


@pytest.fixture
def station(target, tmp_path):
    keys = command_keys(tmp_path, "dog1")
    storage = Storage(target)
    tables = AccountTables(target)
    clock = Clock(time.time())
    accounts = Accounts(tables, clock=clock)
    published: list[tuple[str, bytes]] = []
    server = StationHttp(storage, FrameRelay(), port=0, accounts=accounts,
                         dispatcher=Dispatcher(keys.dir, lambda t, p, q: published.append((t, p)) or 0,
                                               storage)).start()
    server.published, server.clock, server.public_key = published, clock, keys.public("dog1")
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("王警官", "operator"),
                       ("ada", "admin")):
        accounts.add_account(ADMIN, name, role, PASSWORD)
    yield server
    server.stop()
    storage.close()
    tables.close()


def call(station, method: str, path: str, body=None, headers=None):
    """(status, JSON body, headers) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers={
            **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
        reply = conn.getresponse()
        raw = reply.read()
        return reply.status, (json.loads(raw) if raw else None), reply.headers
    finally:
        conn.close()


def login(station, name: str, password: str = PASSWORD, headers=None) -> dict:
    """Log in; returns the headers a browser would send after it: cookie + CSRF token."""
    status, body, headers_in = call(station, "POST", "/api/login",
                                    {"name": name, "password": password}, headers)
    assert status == 200, body
    cookie = headers_in["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    return {"Cookie": cookie.split(";", 1)[0], "X-CSRF-Token": body["csrf"]}


SIREN = "/api/dogs/dog1/commands/siren?wait=0"


def verified(station, payload: bytes) -> signing.Command:
    """The command as dog1 would read it (its signature and schema checked)."""
    return signing.verify(payload, dog="dog1", public_key=station.public_key, now=time.time(),
                          replay=signing.ReplayCache())


def test_every_route_names_an_action_of_the_role_table(station):
    assert {route.__name__ for _, _, route, _ in station.routes} == set(ROUTE_ACTIONS)
    assert [r.__name__ for _, _, r, action in station.routes if action is None] == [
        "_index", "_viewer", "_verbs", "_login"]   # the two pages (their login forms), the verbs


def test_nothing_but_the_page_and_the_login_without_a_login(station):
    for method, path in (("GET", "/api/fleet"), ("GET", "/api/dogs/dog1/telemetry"),
                         ("POST", SIREN), ("GET", "/video/dog1/bodycam.jpg"),
                         ("GET", "/api/audit"), ("GET", "/api/session")):
        status, body, _ = call(station, method, path, {} if method == "POST" else None)
        assert (status, body["code"]) == (401, "not_authenticated"), path
    assert station.published == []


def test_a_viewer_watches_but_is_refused_commands_and_the_refusal_is_logged(station):
    vera = login(station, "vera")
    assert call(station, "GET", "/api/fleet", headers=vera)[0] == 200
    for verb in ("siren", "estop", "estop_release"):
        status, body, _ = call(station, "POST", f"/api/dogs/dog1/commands/{verb}?wait=0", {},
                               vera)
        assert (status, body["code"]) == (403, "forbidden"), verb
    assert call(station, "POST", "/api/dogs/dog1/audio/voice", None, vera)[0] == 403
    assert station.published == []
    denied = station.accounts.tables.audit(10, kind="denied", actor="vera")
    # e-stop and its release are one action of their own (a role may be given only that)
    assert [e["detail"]["action"] for e in reversed(denied)] == ["command", "estop", "estop",
                                                                "talk"]


def test_an_operator_commands_and_the_signed_issuer_is_the_account(station):
    for name in ("otto", "王警官"):
        otto = login(station, name)
        status, body, _ = call(station, "POST", SIREN, {"tone": "wail"}, otto)
        assert status == 202, body
        topic, payload = station.published[-1]
        command = verified(station, payload)
        assert (topic, command.issuer, command.args) == ("patrol/v1/dog1/cmd/siren", name,
                                                         {"tone": "wail"})
        audit = station.accounts.tables.audit(1, kind="command")[0]
        assert (audit["actor"], audit["target"], audit["detail"]["nonce"]) == (
            name, "dog1", body["nonce"])
        station.storage.flush()
        log = call(station, "GET", "/api/dogs/dog1/commands", headers=otto)[1]["commands"]
        assert log[0]["issuer"] == name
    # X-Operator, the free-form name of old, is ignored
    call(station, "POST", SIREN, {"tone": "off"}, {**otto, "X-Operator": "mallory"})
    assert verified(station, station.published[-1][1]).issuer == "王警官"


def test_a_missing_or_forged_csrf_token_is_refused(station):
    otto = login(station, "otto")
    other = login(station, "otto")  # another session's token is no good for this one
    for csrf in (None, "", "forged", other["X-CSRF-Token"]):
        headers = {"Cookie": otto["Cookie"], **({"X-CSRF-Token": csrf} if csrf is not None else {})}
        status, body, _ = call(station, "POST", SIREN, {"tone": "wail"}, headers)
        assert (status, body["code"]) == (403, "csrf_refused")
    assert station.published == []
    assert call(station, "POST", SIREN, {"tone": "wail"}, otto)[0] == 202


def test_an_expired_session_is_refused(station):
    otto = login(station, "otto")
    station.clock.now += station.accounts.idle_s + 1
    status, body, _ = call(station, "POST", SIREN, {"tone": "wail"}, otto)
    assert (status, body["code"]) == (401, "session_expired")
    assert call(station, "GET", "/api/fleet", headers=otto)[0] == 401
    assert station.published == []


def test_a_revoked_api_token_stops_working_at_once(station):
    otto = login(station, "otto")
    status, body, _ = call(station, "POST", "/api/tokens", {"label": "script"}, otto)
    assert status == 200
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert call(station, "POST", SIREN, {"tone": "wail"}, bearer)[0] == 202   # no CSRF: no browser sends it
    listed = call(station, "GET", "/api/tokens", headers=otto)[1]["tokens"]
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    assert call(station, "POST", f"/api/tokens/{body['id']}/revoke", {}, otto)[0] == 200
    status, refused, _ = call(station, "POST", SIREN, {"tone": "wail"}, bearer)
    assert (status, refused["code"]) == (401, "not_authenticated")
    assert len(station.published) == 1


def test_lockout_holds_whatever_the_client_headers_say(station):
    for i in range(5):
        status, body, _ = call(station, "POST", "/api/login", {"name": "otto", "password": "x" * 9},
                               {"X-Forwarded-For": f"10.0.0.{i}", "X-Real-IP": f"10.0.1.{i}"})
        assert status == 401
    status, body, headers = call(station, "POST", "/api/login",
                                 {"name": "otto", "password": PASSWORD},
                                 {"X-Forwarded-For": "192.0.2.77", "User-Agent": "another"})
    assert (status, body["code"]) == (429, "locked_out") and int(headers["Retry-After"]) > 0
    lockouts = station.accounts.tables.audit(10, kind="lockout")
    assert {e["address"] for e in lockouts} == {"127.0.0.1"}  # the peer, never a header


def test_bad_logins_are_refused_cleanly_and_audited(station):
    cases = [({"name": "otto", "password": ""}, 400, "bad_password"),
             ({"name": "", "password": PASSWORD}, 400, "bad_name"),
             ({"name": "nobody", "password": PASSWORD}, 401, "bad_credentials"),
             ({"name": "otto", "password": "wrong one"}, 401, "bad_credentials"),
             ({"name": ["otto"], "password": PASSWORD}, 400, "bad_name")]
    for body, status, code in cases:
        got = call(station, "POST", "/api/login", body)
        assert (got[0], got[1]["code"]) == (status, code), body
    big = call(station, "POST", "/api/login", {"name": "otto", "password": "x" * 100_000})
    assert (big[0], big[1]["code"]) == (413, "too_large")  # refused before it is read whole
    not_json = call(station, "POST", "/api/login", ["otto", PASSWORD])
    assert (not_json[0], not_json[1]["code"]) == (400, "bad_request")
    failed = station.accounts.tables.audit(100, kind="login_failed")
    assert len(failed) == len(cases) + 2      # every refused login, whatever its size
    assert [(e["actor"], e["address"], e["ok"], e["detail"]["reason"]) for e in failed[:2]] == [
        ("?", "127.0.0.1", False, "bad_request"), ("?", "127.0.0.1", False, "too_large")]


def test_names_with_markup_are_data_in_the_api(station):
    station.accounts.add_account(ADMIN, "<img src=x onerror=alert(1)>", "viewer", PASSWORD)
    headers = login(station, "<img src=x onerror=alert(1)>")
    status, body, reply_headers = call(station, "GET", "/api/session", headers=headers)
    assert body["name"] == "<img src=x onerror=alert(1)>"
    assert reply_headers["Content-Type"] == "application/json"
    web = Path(__file__).resolve().parents[1] / "robot_dog/station/web"
    assert 'getElementById("who").textContent' in (web / "viewer.js").read_text()  # text, never HTML
    assert '$("#who").textContent' in (web / "console.js").read_text()


def test_logout_and_logout_everywhere(station):
    desk, phone = login(station, "otto"), login(station, "otto")
    assert call(station, "POST", "/api/logout", {}, desk)[0] == 200
    assert call(station, "GET", "/api/fleet", headers=desk)[0] == 401
    assert call(station, "GET", "/api/fleet", headers=phone)[0] == 200
    third = login(station, "otto")
    status, body, _ = call(station, "POST", "/api/logout-everywhere", {}, third)
    assert status == 200 and body["sessions"] == 2
    assert call(station, "GET", "/api/fleet", headers=phone)[0] == 401


def test_the_audit_log_is_for_commanders_and_admins(station):
    assert call(station, "GET", "/api/audit", headers=login(station, "otto"))[0] == 403
    login(station, "vera")
    ada = login(station, "ada")  # three logins: a page of two and one before it
    status, body, _ = call(station, "GET", "/api/audit?kind=login&limit=2", headers=ada)
    assert status == 200 and [e["kind"] for e in body["audit"]] == ["login", "login"]
    older = call(station, "GET", f"/api/audit?kind=login&before={body['before']}",
                 headers=ada)[1]["audit"]
    assert older and all(e["id"] < body["before"] for e in older)


def test_a_disabled_accounts_live_session_is_refused(station):
    otto = login(station, "otto")
    station.accounts.set_disabled(ADMIN, "otto")
    assert call(station, "POST", SIREN, {"tone": "wail"}, otto)[0] == 401
    assert station.published == []
