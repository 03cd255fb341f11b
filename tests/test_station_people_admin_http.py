"""Account administration, handheld pairing codes and the officer role over HTTP, from outside:
the real StationHttp on SQLite and PostgreSQL, plain HTTP clients, and dog1/dog2 played by the
test the way their uplink answers (the signed command read back and verified, the pairing code
sealed with the command's key, the result handed to the station as ingest does)."""
from __future__ import annotations

import json
import threading
import time

from robot_dog.mqtt import reply_seal, signing
from robot_dog.station.web import ROUTE_ACTIONS
from tests.fixtures.command_keys import command_keys
from tests.test_station_accounts import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_station_accounts_http import (PASSWORD, SIREN, call, login,  # noqa: F401
                                              station, target, verified)
from tests.support import wait_for

MARKUP = "<img src=x onerror=alert(1)>"


def kinds(station, actor: str, limit: int = 50) -> list[str]:
    return [e["kind"] for e in reversed(station.accounts.tables.audit(limit, actor=actor))]


def test_the_account_routes_are_the_admins_action():
    routes = ("_accounts", "_add_account", "_account_role", "_account_password",
              "_account_disable", "_account_enable", "_account_logout")
    assert {ROUTE_ACTIONS[r] for r in routes} == {"accounts"}
    assert ROUTE_ACTIONS["_pair"] == ROUTE_ACTIONS["_pairings"] == "pair"


def test_an_admin_manages_accounts_and_every_change_is_audited(station):
    ada = login(station, "ada")
    status, made, headers = call(station, "POST", "/api/accounts",
                                 {"name": "王警官2", "role": "operator"}, ada)
    assert status == 201 and made["name"] == "王警官2" and len(made["password"]) >= 16
    assert headers["Cache-Control"] == "no-store"
    # the one-time password logs in, and is nowhere in the audit log
    wang = login(station, "王警官2", made["password"])
    assert call(station, "POST", SIREN, {"tone": "wail"}, wang)[0] == 202
    assert made["password"] not in json.dumps(station.accounts.tables.audit(1000),
                                              ensure_ascii=False)
    # a set password is not echoed
    status, body, _ = call(station, "POST", "/api/accounts",
                           {"name": "carl", "role": "viewer", "password": "a long password"}, ada)
    assert status == 201 and "password" not in body
    listed = {a["name"]: a for a in call(station, "GET", "/api/accounts", headers=ada)[1]["accounts"]}
    assert listed["王警官2"]["role"] == "operator" and listed["carl"]["disabled"] is False
    assert not any("hash" in k for a in listed.values() for k in a)

    assert call(station, "POST", "/api/accounts/role", {"name": "carl", "role": "commander"},
                ada)[0] == 200
    carl = login(station, "carl", "a long password")
    assert call(station, "GET", "/api/audit", headers=carl)[0] == 200    # commanders read it
    status, reset, _ = call(station, "POST", "/api/accounts/password", {"name": "carl"}, ada)
    assert status == 200 and reset["password"] != "a long password"
    assert call(station, "GET", "/api/fleet", headers=carl)[0] == 401    # its session ended
    carl = login(station, "carl", reset["password"])
    assert call(station, "POST", "/api/accounts/disable", {"name": "carl"}, ada)[0] == 200
    assert call(station, "GET", "/api/fleet", headers=carl)[0] == 401
    assert call(station, "POST", "/api/login", {"name": "carl", "password": reset["password"]}
                )[0] == 401
    assert call(station, "POST", "/api/accounts/enable", {"name": "carl"}, ada)[0] == 200
    desk, phone = login(station, "carl", reset["password"]), login(station, "carl", reset["password"])
    status, body, _ = call(station, "POST", "/api/accounts/logout-everywhere", {"name": "carl"}, ada)
    assert (status, body["sessions"]) == (200, 2)
    assert call(station, "GET", "/api/fleet", headers=phone)[0] == 401
    assert call(station, "GET", "/api/fleet", headers=desk)[0] == 401
    assert kinds(station, "ada") == ["login", "account_added", "account_added", "role_changed",
                                     "password_changed", "account_disabled", "account_enabled",
                                     "logout_everywhere"]


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(station):
    ada = login(station, "ada")
    for path, body in (("/api/accounts/disable", {"name": "ada"}),
                       ("/api/accounts/role", {"name": "ada", "role": "operator"})):
        status, refused, _ = call(station, "POST", path, body, ada)
        assert (status, refused["code"]) == (409, "last_admin"), path
    assert call(station, "GET", "/api/accounts", headers=ada)[0] == 200     # still an admin
    refusals = [e for e in station.accounts.tables.audit(10, actor="ada") if not e["ok"]]
    assert [e["detail"]["reason"] for e in refusals] == ["last_admin", "last_admin"]
    # with a second admin, the first may go; the second is then the last
    call(station, "POST", "/api/accounts", {"name": "bea", "role": "admin",
                                            "password": "bea's password"}, ada)
    assert call(station, "POST", "/api/accounts/disable", {"name": "ada"}, ada)[0] == 200
    bea = login(station, "bea", "bea's password")
    status, refused, _ = call(station, "POST", "/api/accounts/role",
                              {"name": "bea", "role": "viewer"}, bea)
    assert (status, refused["code"]) == (409, "last_admin")


def test_two_admins_disabling_each_other_at_once_leave_one(station):
    ada = login(station, "ada")
    call(station, "POST", "/api/accounts", {"name": "bea", "role": "admin",
                                            "password": "bea's password"}, ada)
    bea = login(station, "bea", "bea's password")
    answers: list[int] = []
    threads = [threading.Thread(target=lambda who, name: answers.append(call(
        station, "POST", "/api/accounts/disable", {"name": name}, who)[0]), args=args)
        for args in ((ada, "bea"), (bea, "ada"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    admins = [a for a in station.accounts.tables.accounts() if a.role == "admin" and not a.disabled]
    assert len(admins) >= 1
    assert 200 in answers


def test_only_admins_manage_accounts_and_the_refusal_is_logged(station):
    for name in ("vera", "otto"):
        who = login(station, name)
        assert call(station, "GET", "/api/accounts", headers=who)[1]["code"] == "forbidden"
        status, body, _ = call(station, "POST", "/api/accounts",
                               {"name": "mallory", "role": "admin"}, who)
        assert (status, body["code"]) == (403, "forbidden")
        assert call(station, "POST", "/api/accounts/role", {"name": name, "role": "admin"},
                    who)[0] == 403
    assert station.accounts.tables.account("mallory") is None
    assert station.accounts.tables.account("otto").role == "operator"
    assert {e["detail"]["action"] for e in station.accounts.tables.audit(20, kind="denied")} == \
        {"accounts"}


def test_bad_account_requests_are_clean_refusals(station):
    ada = login(station, "ada")
    cases = [({"name": "x", "role": "emperor"}, 400, "bad_role"),
             ({"name": "", "role": "viewer"}, 400, "bad_name"),
             ({"name": "a\u0000b", "role": "viewer"}, 400, "bad_name"),
             ({"name": "x", "role": "viewer", "password": "short"}, 400, "bad_password"),
             ({"name": "otto", "role": "viewer"}, 409, "account_exists"),
             ({"name": ["x"], "role": "viewer"}, 400, "bad_request"),
             ({"role": "viewer"}, 400, "bad_request")]
    for body, status, code in cases:
        got = call(station, "POST", "/api/accounts", body, ada)
        assert (got[0], got[1]["code"]) == (status, code), body
    got = call(station, "POST", "/api/accounts/disable", {"name": "nobody"}, ada)
    assert (got[0], got[1]["code"]) == (404, "unknown_account")


def test_chinese_and_markup_names_are_data_through_the_admin_api(station):
    ada = login(station, "ada")
    for name in (MARKUP, "王警官 二号"):
        status, made, _ = call(station, "POST", "/api/accounts", {"name": name, "role": "viewer"},
                               ada)
        assert status == 201 and made["name"] == name
        assert call(station, "POST", "/api/accounts/disable", {"name": name}, ada)[0] == 200
    listed = {a["name"] for a in call(station, "GET", "/api/accounts", headers=ada)[1]["accounts"]}
    assert {MARKUP, "王警官 二号"} <= listed
    audit = call(station, "GET", "/api/audit?" + "kind=account_added", headers=ada)[1]["audit"]
    assert {e["target"] for e in audit} >= {MARKUP, "王警官 二号"}


def test_the_audit_log_filters_by_person_kind_dog_and_time(station):
    otto = login(station, "otto")
    call(station, "POST", SIREN, {"tone": "wail"}, otto)
    station.clock.now += 100
    middle = station.clock.now
    call(station, "POST", SIREN, {"tone": "off"}, otto)
    station.clock.now += 100
    call(station, "POST", SIREN, {"tone": "yelp"}, otto)
    ada = login(station, "ada")

    def audit(query: str) -> list[dict]:
        status, body, _ = call(station, "GET", f"/api/audit?{query}", headers=ada)
        assert status == 200, body
        return body["audit"]

    commands = audit("kind=command&actor=otto&target=dog1")
    assert len(commands) == 3
    assert len(audit(f"kind=command&since={middle}")) == 2
    assert len(audit(f"kind=command&since={middle}&until={middle + 1}")) == 1
    assert audit("kind=command&target=dog2") == []
    assert call(station, "GET", "/api/audit?since=nan", headers=ada)[0] == 400


# --- handheld pairing codes and the officer role ------------------------------------------------
def answer_pairing(station, dog: str = "dog1", *, ok: bool = True, code: str = "424242") -> dict:
    """Play the dog's uplink + teleop_node: wait for the signed pair_handheld command, seal the
    code with its key for its officer, answer with a signed-result document."""
    found = wait_for(lambda: next((p for t, p in reversed(station.published)
                                   if t == f"patrol/v1/{dog}/cmd/pair_handheld"), None),
                     "the signed pair_handheld command", 30)
    command = signing.verify(found, dog=dog, public_key=station.keys[dog].public_key(),
                             now=time.time(), replay=signing.ReplayCache())
    data = {"sealed_code": reply_seal.seal(command.args["key"], code, command.args["officer"])}
    doc = {"nonce": command.nonce, "ok": ok, "code": "ok" if ok else "bad_officer",
           "message": "", "verb": "pair_handheld", "issuer": command.issuer,
           **({"data": data} if ok else {})}
    station.dispatcher.on_result(doc, dog)
    return {"command": command, "doc": doc}


def two_dogs(station, tmp_path) -> None:
    """dog2 beside the fixture's dog1 (the dispatcher reads a dog's key when it first needs it);
    `station.keys`: each dog's command key, as the dog holds its public half."""
    dog2 = command_keys(tmp_path, "dog2")
    station.keys = {"dog1": signing.load_signing_key(dog2.dir / "dog1.key"), **dog2.private}


def pair(station, who: dict, officer: str, dog: str = "dog1", **answer):
    reply: dict = {}
    thread = threading.Thread(target=lambda: reply.update(zip(("status", "body", "headers"), call(
        station, "POST", f"/api/dogs/{dog}/handheld/pair", {"officer": officer}, who))))
    thread.start()
    played = answer_pairing(station, dog, **answer)
    thread.join(30)
    return reply, played


def test_a_pairing_code_is_shown_once_to_the_operator_and_never_stored_in_clear(station, tmp_path):
    two_dogs(station, tmp_path)
    ada = login(station, "ada")
    call(station, "POST", "/api/accounts", {"name": "王警官3", "role": "officer",
                                            "password": "officer password"}, ada)
    otto = login(station, "otto")
    reply, played = pair(station, otto, "王警官3")
    assert reply["status"] == 200, reply
    assert reply["body"]["pairing_code"] == "424242" and reply["body"]["officer"] == "王警官3"
    assert played["command"].issuer == "otto" and played["command"].args["officer"] == "王警官3"
    station.storage.flush()
    stored = json.dumps([station.storage.commands("dog1", 100),
                         station.accounts.tables.audit(1000)], ensure_ascii=False)
    assert "424242" not in stored and played["command"].args["key"] not in stored
    pairings = call(station, "GET", "/api/pairings", headers=otto)[1]["pairings"]
    assert [(p["dog"], p["officer"], p["issued_by"]) for p in pairings] == [
        ("dog1", "王警官3", "otto")]
    assert "pairing" in kinds(station, "otto")


def test_an_officer_commands_only_the_dogs_paired_to_them(station, tmp_path):
    two_dogs(station, tmp_path)
    ada = login(station, "ada")
    call(station, "POST", "/api/accounts", {"name": "王警官3", "role": "officer",
                                            "password": "officer password"}, ada)
    wang = login(station, "王警官3", "officer password")
    # not paired to any dog yet: refused, and the dogs are not even listed
    status, body, _ = call(station, "POST", SIREN, {"tone": "wail"}, wang)
    assert (status, body["code"]) == (403, "dog_not_paired")
    assert call(station, "GET", "/api/fleet", headers=wang)[1]["dogs"] == []
    reply, _ = pair(station, ada, "王警官3")
    assert reply["status"] == 200, reply
    sent = len(station.published)
    status, body, _ = call(station, "POST", SIREN, {"tone": "wail"}, wang)
    assert status == 202, body
    assert verified(station, station.published[-1][1]).issuer == "王警官3"
    for path in ("/api/dogs/dog2/commands/siren?wait=0", "/api/dogs/dog2/commands/estop?wait=0"):
        status, body, _ = call(station, "POST", path, {}, wang)
        assert (status, body["code"]) == (403, "dog_not_paired"), path
    for path in ("/api/dogs/dog2/telemetry", "/api/dogs/dog2/commands", "/video/dog2/bodycam.jpg"):
        assert call(station, "GET", path, headers=wang)[1]["code"] == "dog_not_paired", path
    assert len(station.published) == sent + 1
    refused = [e for e in station.accounts.tables.audit(50, kind="denied", actor="王警官3")
               if e["detail"].get("reason") == "dog_not_paired"]
    assert {e["target"] for e in refused} == {"dog1", "dog2"} and len(refused) == 6
    # an officer may not issue codes; a lost phone revoked: the officer's rights end at once
    assert call(station, "POST", "/api/dogs/dog1/handheld/pair", {"officer": "王警官3"},
                wang)[1]["code"] == "forbidden"
    status, body, _ = call(station, "POST", "/api/dogs/dog1/commands/revoke_handheld?wait=0", {},
                           ada)
    assert status == 202, body
    assert call(station, "POST", SIREN, {"tone": "off"}, wang)[1]["code"] == "dog_not_paired"
    assert "unpairing" in kinds(station, "ada")


def test_pairing_codes_go_only_to_officer_accounts_and_by_their_own_route(station, tmp_path):
    two_dogs(station, tmp_path)
    otto = login(station, "otto")
    for officer, code in (("nobody", "unknown_officer"), ("vera", "unknown_officer"),
                          ("", "bad_name")):
        status, body, _ = call(station, "POST", "/api/dogs/dog1/handheld/pair",
                               {"officer": officer}, otto)
        assert (status, body["code"]) == (400, code), officer
    status, body, _ = call(station, "POST", "/api/dogs/dog1/commands/pair_handheld?wait=0",
                           {"officer": "otto", "key": reply_seal.RequestKey().public}, otto)
    assert (status, body["code"]) == (400, "not_allowed")
    assert station.published == []
    vera = login(station, "vera")
    assert call(station, "POST", "/api/dogs/dog1/handheld/pair", {"officer": "otto"},
                vera)[1]["code"] == "forbidden"


def test_a_dog_that_refuses_gives_no_code_and_no_pairing(station, tmp_path):
    two_dogs(station, tmp_path)
    otto = login(station, "otto")
    reply, _ = pair(station, otto, "王警官", ok=False)
    assert (reply["status"], reply["body"]["code"]) == (409, "bad_officer")
    assert "pairing_code" not in reply["body"]
    assert station.accounts.tables.pairings() == []
