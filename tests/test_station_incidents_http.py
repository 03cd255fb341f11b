"""The incidents over HTTP, from outside: the real StationHttp on SQLite and PostgreSQL, plain
HTTP clients and a live page's WebSocket. A commander's two-click dispatch opens the incident
from the alarm, sends the signed `goto` and `task` (verified with dog1's key, as the dog does)
and every page hears each entry on its one live socket; what dogs and officers report lands in
order; a viewer and an operator read but are refused every change (403, audited); bad goals
are refused with their codes before anything is signed; the exports are what the docs say."""
from __future__ import annotations

import json
import math
import time

import pytest

from robot_dog.station.storage import EventRow, ResultRow, StatusRow, TelemetryRow
from robot_dog.mqtt import signing, topics
from tests.test_station_accounts_http import (ADMIN, PASSWORD, call, login, station, target,  # noqa: F401
                                              verified)
from tests.test_station_live import is_type, page, receive_until

OFFICER_OF_DOG1 = "olga"

ALARM_ID = "evt-00000042"


@pytest.fixture
def chief(station):
    station.accounts.add_account(ADMIN, "指挥员李", "commander", PASSWORD)
    return login(station, "指挥员李")


def alarm(station) -> dict:
    event = {"v": 1, "dog": "dog1", "ts": time.time(), "id": ALARM_ID, "type": "sound",
             "severity": "critical", "message": "glass break at the kiosk <b>now</b>"}
    station.storage.put(EventRow("dog1", time.time(), event))
    station.storage.flush()
    return event


def sent(station) -> list:
    return [(topics.parse(t).sub, verified(station, p)) for t, p in station.published]


def report(station, n: int, type_: str, data: dict) -> None:
    """What dog1's uplink would hand the station's intake (ingest has stored it)."""
    station.incidents.on_event("dog1", {"v": 1, "dog": "dog1", "ts": time.time(),
                                        "id": f"boot1-{n:04d}", "type": type_, "severity": "info",
                                        "message": "", "data": data})


def test_two_click_dispatch_to_close_with_every_step_pushed_in_order(station, chief):
    alarm(station)
    cookie = chief["Cookie"]
    with page(station, cookie) as ws:
        receive_until(ws, is_type("hello"))
        status, body, _ = call(station, "POST", "/api/incidents/respond", {
            "alarm": {"dog": "dog1", "event": ALARM_ID}, "dog": "dog1",
            "target": {"x": 10.0, "y": 0.0}, "officer": "王警官"}, chief)
        assert status == 200, body
        inc = body["incident"]["id"]
        assert body["joined"] is False and [c["verb"] for c in body["commands"]] == ["goto", "task"]
        (v1, goto), (v2, task) = sent(station)
        assert (v1, goto.issuer, goto.args["x"], goto.args["y"], goto.args["frame"]) == (
            "goto", "指挥员李", 10.0, 0.0, "odom")
        assert (v2, task.args["incident"], task.args["x"], task.args["what"]) == (
            "task", inc, 10.0, "glass break at the kiosk <b>now</b>")

        # the same alarm from a second console joins the incident (nothing opened twice)
        status, again, _ = call(station, "POST", "/api/incidents/respond", {
            "alarm": {"dog": "dog1", "event": ALARM_ID}, "dog": "dog2", "route": "home"}, chief)
        assert (status, again["code"]) == (404, "unknown_dog"), again   # dog2 has no key here
        assert len(call(station, "GET", "/api/incidents", headers=chief)[1]["incidents"]) == 1
        report(station, 1, "officer_task", {"incident": inc, "officer": "王警官", "state": "accepted"})
        report(station, 2, "goal", {"label": "navigate_to odom", "state": "arrived"})
        report(station, 3, "officer_task", {"incident": inc, "officer": "王警官", "state": "on_scene"})
        assert call(station, "POST", f"/api/incidents/{inc}/notes", {"text": "suspect detained"},
                    chief)[0] == 200
        status, closed, _ = call(station, "POST", f"/api/incidents/{inc}/close",
                                 {"disposition": "arrest"}, chief)
        assert status == 200 and closed["incident"]["state"] == "closed", closed

        pushed: list[dict] = []
        while not pushed or pushed[-1]["kind"] != "closed":
            m = receive_until(ws, is_type("incident"))
            assert m["incident"]["id"] == inc and m["first"] == len(pushed), m   # none missed
            pushed += m["entries"]
    timeline = call(station, "GET", f"/api/incidents/{inc}", headers=chief)[1]["timeline"]
    assert pushed == timeline
    steps = [(e["kind"], e["unit"], e["data"].get("status") or e["data"].get("state")) for e in timeline]
    assert steps == [("opened", "", None), ("alarm", "dog1", None), ("dog_dispatched", "dog1", None),
                     ("officer_assigned", "王警官", None), ("unit_status", "王警官", "en_route"),
                     ("dog_event", "dog1", "arrived"), ("unit_status", "dog1", "on_scene"),
                     ("unit_status", "王警官", "on_scene"), ("note", "", None), ("closed", "", None)]
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    listed = call(station, "GET", "/api/incidents?state=closed&officer=%E7%8E%8B%E8%AD%A6%E5%AE%98",
                  headers=chief)[1]["incidents"]
    assert [i["id"] for i in listed] == [inc]


def test_viewer_and_operator_read_but_every_change_is_refused_and_audited(station, chief):
    inc = call(station, "POST", "/api/incidents", {"summary": "a person down"}, chief)[1]["incident"]["id"]
    for name in ("vera", "otto"):
        who = login(station, name)
        assert call(station, "GET", f"/api/incidents/{inc}", headers=who)[0] == 200
        assert call(station, "GET", "/api/incidents", headers=who)[1]["incidents"][0]["id"] == inc
        for path, body in ((f"/api/incidents/{inc}/dogs", {"dog": "dog1", "target": {"x": 1, "y": 1}}),
                           ("/api/incidents/respond", {"dog": "dog1", "target": {"x": 1, "y": 1}}),
                           ("/api/incidents", {"summary": "x"}),
                           (f"/api/incidents/{inc}/notes", {"text": "x"}),
                           (f"/api/incidents/{inc}/close", {"disposition": "resolved"}),
                           (f"/api/incidents/{inc}/dogs/dog1/cancel", None)):
            status, refused, _ = call(station, "POST", path, body, who)
            assert (status, refused["code"]) == (403, "forbidden"), (name, path)
        denied = station.accounts.tables.audit(20, kind="denied", actor=name)
        assert len(denied) == 6 and {d["detail"]["action"] for d in denied} == {"dispatch"}
    assert station.published == []
    # a change needs the CSRF token with the session, as every POST
    no_csrf = {"Cookie": chief["Cookie"]}
    status, refused, _ = call(station, "POST", f"/api/incidents/{inc}/notes", {"text": "x"}, no_csrf)
    assert status == 403 and refused["code"] != "forbidden", refused


@pytest.mark.parametrize("point, code", [
    ({"x": None, "y": 0.0}, "bad_target"),           # what a page's NaN becomes in JSON
    ({"x": 1.0}, "bad_target"),
    ("north", "bad_target"),
    ({"x": 1e7, "y": 0.0}, "bad_args"),              # beyond the verb's range
    ({"lat": 91.0, "lon": 0.0}, "bad_target"),
])
def test_a_bad_goal_is_refused_with_its_code_before_anything_is_signed(station, chief, point, code):
    status, body, _ = call(station, "POST", "/api/incidents/respond",
                           {"summary": "x", "dog": "dog1", "target": point, "officer": "王警官"}, chief)
    assert (status, body["code"]) == (400, code), body
    assert station.published == []
    assert call(station, "GET", "/api/incidents", headers=chief)[1]["incidents"] == []   # nothing opened


def test_nan_in_the_body_is_not_json_and_is_refused(station, chief):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    data = b'{"summary": "x", "dog": "dog1", "target": {"x": NaN, "y": 0}}'
    conn.request("POST", "/api/incidents/respond", body=data, headers={
        "Content-Type": "application/json", **chief})
    reply = conn.getresponse()
    assert reply.status == 400
    conn.close()
    assert station.published == []


def test_cancel_a_dog_and_the_refusal_codes_of_the_rules(station, chief):
    inc = call(station, "POST", "/api/incidents", {"summary": "a fight"}, chief)[1]["incident"]["id"]
    status, body, _ = call(station, "POST", f"/api/incidents/{inc}/dogs/dog1/cancel", None, chief)
    assert (status, body["code"]) == (400, "unknown_unit")        # not out on it
    assert call(station, "POST", f"/api/incidents/{inc}/dogs", {"dog": "dog1", "route": "patrol"},
                chief)[0] == 200
    status, body, _ = call(station, "POST", f"/api/incidents/{inc}/dogs/dog1/cancel", None, chief)
    assert status == 200 and body["entry"]["data"]["status"] == "cleared", body
    assert [v for v, _ in sent(station)] == ["patrol", "cancel"]
    status, body, _ = call(station, "POST", f"/api/incidents/{inc}/officers",
                           {"officer": "王警官", "dog": "dog1"}, chief)
    assert (status, body["code"]) == (400, "bad_target"), body     # a route: say where
    assert call(station, "POST", f"/api/incidents/{inc}/close", {"disposition": "resolved"}, chief)[0] == 200
    for path, body, want in ((f"/api/incidents/{inc}/notes", {"text": 5}, (400, "bad_text")),
                             (f"/api/incidents/{inc}/dogs", {"dog": "dog1", "target": {"x": 1, "y": 2}},
                              (409, "incident_closed")),
                             (f"/api/incidents/{inc}/close", {"disposition": "arrest"}, (409, "incident_closed")),
                             ("/api/incidents/inc-nope/notes", {"text": "x"}, (404, "unknown_incident")),
                             ("/api/incidents/respond", {"dog": "dog1", "target": {"x": 1, "y": 2},
                                                         "alarm": "dog1"}, (400, "bad_alarm"))):
        status, refused, _ = call(station, "POST", path, body, chief)
        assert (status, refused["code"]) == want, (path, refused)
    assert call(station, "POST", f"/api/incidents/{inc}/reopen", {"reason": "more to do"}, chief)[0] == 200
    status, listed, _ = call(station, "GET", "/api/incidents?since=nan", headers=chief)
    assert (status, listed["code"]) == (400, "bad_filter")


def test_exports_json_and_a_printable_page_with_names_escaped(station, chief):
    alarm(station)
    body = call(station, "POST", "/api/incidents/respond", {
        "alarm": {"dog": "dog1", "event": ALARM_ID}, "dog": "dog1",
        "target": {"lat": 36.65, "lon": 117.12}, "officer": "王警官"}, chief)[1]
    inc = body["incident"]["id"]
    assert math.isclose(verified(station, station.published[0][1]).args["x"], 36.65)
    status, doc, headers = call(station, "GET", f"/api/incidents/{inc}/export.json", headers=chief)
    assert status == 200 and doc["format"] == "robot-dog incident v1" and doc["exported_by"] == "指挥员李"
    assert "attachment" in headers["Content-Disposition"]
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    conn.request("GET", f"/api/incidents/{inc}/print?lang=zh", headers=chief)
    reply = conn.getresponse()
    html = reply.read().decode()
    conn.close()
    assert reply.status == 200 and "script-src" not in reply.headers["Content-Security-Policy"]
    assert "&lt;b&gt;now&lt;/b&gt;" in html and "<b>now" not in html and "王警官" in html
    assert [e["actor"] for e in station.accounts.tables.audit(5, kind="incident_export")] == ["指挥员李"] * 2
    assert call(station, "GET", f"/api/incidents/{inc}/print?lang=fr", headers=chief)[0] == 400


def dog_says(station, dog: str, row) -> None:
    """What the station does with a dog's message that ingest accepted (station/app.py): store
    it, push it to the live pages, and an event of the incidents' kinds to their intake."""
    station.storage.put(row)
    station.row(row)
    if isinstance(row, ResultRow):
        station.dispatcher.on_result(row.doc, dog)
    elif isinstance(row, EventRow):
        station.incidents.on_event(dog, row.doc)


def answer(station, dog: str, payload: bytes) -> ResultRow:
    """The dog's signed answer to a command it was sent (its result names verb and issuer)."""
    cmd = signing.verify(payload, dog=dog, public_key=station.public_key if dog == "dog1" else
                         DOG2_KEY.public_key(), now=time.time(), replay=signing.ReplayCache())
    return ResultRow(dog, time.time(), {"v": 1, "dog": dog, "ts": time.time(), "ok": True, "code": "ok",
                                        "nonce": cmd.nonce, "verb": cmd.verb, "issuer": cmd.issuer,
                                        "message": f"{cmd.verb} accepted"})


DOG2_KEY = signing.new_key()


def test_an_officers_page_hears_nothing_of_an_incident_it_is_not_on(station, chief):
    """As an outsider, on the live socket: a scripted page logged in as olga, the officer paired
    with dog1, stays open while a commander opens an incident from dog2's alarm, sends dog2 and
    dog1 (olga's dog) to it, gives 王警官 the task through dog2, hears the dogs' answers and
    reports, and closes it. A commander's page on the same station hears every step (so this
    can fail); olga's hears none of it: no incident message, no dog's answer to a command she did
    not send (each names who sent which dog where), nothing naming the incident, nothing of dog2.
    What she does get (dog1's own telemetry and events, the answer to her own e-stop) shows her
    socket was read to the end. Over HTTP she reads no incident either."""
    keys = station.dispatcher.keys_dir
    (keys / "dog2.key").write_bytes(signing.private_pem(DOG2_KEY))
    station.accounts.add_account(ADMIN, OFFICER_OF_DOG1, "officer", PASSWORD)
    station.accounts.paired(ADMIN, "dog1", OFFICER_OF_DOG1)
    for dog in ("dog1", "dog2"):
        station.storage.put(StatusRow(dog, "online", time.time()))
    station.storage.flush()
    olga = login(station, OFFICER_OF_DOG1)
    with page(station, chief["Cookie"]) as desk, page(station, olga["Cookie"]) as phone:
        receive_until(desk, is_type("hello"))
        assert [d["dog"] for d in receive_until(phone, is_type("hello"))["fleet"]] == ["dog1"]
        phone.send(json.dumps({"type": "auth", "csrf": olga["X-CSRF-Token"]}))
        receive_until(phone, is_type("auth"))
        phone.send(json.dumps({"type": "command", "id": "c1", "dog": "dog1", "verb": "estop",
                               "args": {"reason": "olga's own stop"}}))
        receive_until(phone, lambda m: m.get("type") == "command_state" and m["id"] == "c1")
        dog_says(station, "dog1", answer(station, "dog1", station.published[-1][1]))

        alarm_event = {"v": 1, "dog": "dog2", "ts": time.time(), "id": "evt-00000099", "type": "sound",
                       "severity": "critical", "message": "glass break at the bank"}
        dog_says(station, "dog2", EventRow("dog2", time.time(), alarm_event))
        station.storage.flush()
        first = len(station.published)
        status, body, _ = call(station, "POST", "/api/incidents/respond", {
            "alarm": {"dog": "dog2", "event": "evt-00000099"}, "dog": "dog2",
            "target": {"x": 4.0, "y": 1.0}, "officer": "王警官"}, chief)
        assert status == 200, body
        inc = body["incident"]["id"]
        assert call(station, "POST", f"/api/incidents/{inc}/dogs",
                    {"dog": "dog1", "target": {"x": 4.0, "y": 2.0}}, chief)[0] == 200
        for t, payload in station.published[first:]:      # goto and task to dog2, goto to dog1
            dog_says(station, topics.parse(t).dog, answer(station, topics.parse(t).dog, payload))
        assert len(station.published) - first == 3
        for n, (dog, type_, data) in enumerate((
                ("dog2", "officer_task", {"incident": inc, "officer": "王警官", "state": "accepted"}),
                ("dog1", "goal", {"label": "navigate_to odom", "state": "arrived"}),
                ("dog2", "goal", {"label": "navigate_to odom", "state": "arrived"}))):
            dog_says(station, dog, EventRow(dog, time.time(), {
                "v": 1, "dog": dog, "ts": time.time(), "id": f"boot1-{n:04d}", "type": type_,
                "severity": "info", "message": f"{type_} {data['state']}", "data": data}))
        assert call(station, "POST", f"/api/incidents/{inc}/close", {"disposition": "resolved"},
                    chief)[0] == 200
        # the officer asks too, as a page would: refused, not read
        assert call(station, "GET", "/api/incidents", headers=olga)[0] == 403
        assert call(station, "GET", f"/api/incidents/{inc}", headers=olga)[0] == 403
        dog_says(station, "dog1", TelemetryRow("dog1", time.time(), {"v": 1, "dog": "dog1",
                                                                     "ts": time.time(), "seq": 999}))

        desk_got, got = read_to_the_end(desk), read_to_the_end(phone)
    heard = [m for _, m in desk_got if m["type"] == "incident"]   # the commander's page: every step
    assert heard and {m["incident"]["id"] for m in heard} == {inc}
    assert heard[-1]["incident"]["state"] == "closed"
    assert any(e["kind"] == "dog_dispatched" and e["unit"] == "dog1" for m in heard for e in m["entries"])
    assert [m["doc"]["issuer"] for _, m in desk_got if m["type"] == "result"] == [
        OFFICER_OF_DOG1, "指挥员李", "指挥员李", "指挥员李"]
    kinds = [m["type"] for _, m in got]                            # olga's page: none of it
    assert "incident" not in kinds, kinds
    texts = [json.dumps(m, ensure_ascii=False) for _, m in got]
    assert not [t for t in texts if inc in t or "dog2" in t or "王警官" in t or "指挥员李" in t], texts
    assert [m["doc"]["issuer"] for _, m in got if m["type"] == "result"] == [OFFICER_OF_DOG1]
    assert [m["doc"]["data"]["state"] for _, m in got if m["type"] == "event"] == ["arrived"], \
        "dog1's own events reach its officer"


def read_to_the_end(ws, seq: int = 999) -> list[tuple[str, dict]]:
    """Every message a page is sent (raw and parsed) up to dog1's telemetry number `seq`, pushed
    last: the pushes reach a page in order and telemetry only once nothing else waits."""
    got: list[tuple[str, dict]] = []
    while not got or got[-1][1].get("doc", {}).get("seq") != seq:
        raw = ws.recv(timeout=30)
        got.append((raw, json.loads(raw)))
    return got
