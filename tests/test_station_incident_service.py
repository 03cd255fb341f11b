"""The station's incident service on a fake clock against SQLite and a real PostgreSQL: the story
from the alarm to the close in order, the verbs it sends (verified with the dog's key, as the
dog would), role checks and refusals with codes, the intake of what dogs and officers report,
evidence linked by time, the exports, and a timeline that is only ever appended to."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from robot_dog.mqtt import signing, topics
from robot_dog.station.accounts import Accounts, Principal
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.incident_service import IncidentService, http_status
from robot_dog.station.incidents import IncidentRefused
from robot_dog.station.storage import EventRow, EvidenceItemRow, EvidenceRecordingRow, Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.incident_tables import ENTRY_SQL, IncidentTables, TimelineConflict
from tests.fixtures.command_keys import command_keys
from tests.test_station_accounts import target  # noqa: F401  (SQLite, and PostgreSQL when slow)

REPO = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000.0
WANG = Principal("王警官", "commander", "session")
ADMIN = Principal("root", "admin", "token")
VIEWER = Principal("li", "viewer", "session")
OPERATOR = Principal("zhao", "operator", "token")


class Clock:
    """Wall time that moves only when told: one second per reading, so order is visible."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class World:
    """A station's incident service with its real tables, dispatcher and storage; what the
    dispatcher publishes is kept as the broker would get it (bytes on a topic)."""

    def __init__(self, target, tmp_path: Path, *, broker_up: bool = True) -> None:
        self.clock = Clock()
        keys = command_keys(tmp_path, "dog1", "dog2")
        self.public = {dog: keys.public(dog) for dog in keys.private}
        self.published: list[tuple[str, bytes]] = []
        self.broker_up = broker_up
        self.storage = Storage(target)
        self.accounts = Accounts(AccountTables(target), clock=self.clock)
        self.dispatcher = Dispatcher(keys.dir, self._publish, self.storage, clock=self.clock)
        self.service = IncidentService(IncidentTables(target), self.accounts,
                                       dispatcher=self.dispatcher, storage=self.storage,
                                       clock=self.clock)

    def _publish(self, topic: str, payload: bytes, qos: int) -> int:
        if not self.broker_up:
            raise ConnectionError("broker down")
        self.published.append((topic, payload))
        return 1

    def command(self, i: int = -1) -> signing.Command:
        """Published command `i`, verified with its dog's key as the dog's uplink does."""
        topic, payload = self.published[i]
        parsed = topics.parse(topic)
        return signing.verify(payload, dog=parsed.dog, public_key=self.public[parsed.dog],
                              now=self.clock.now, replay=signing.ReplayCache(), verb=str(parsed.sub))

    def event(self, dog: str, n: int, type: str, data: dict, severity: str = "info",
              message: str = "") -> list:
        doc = {"v": 1, "dog": dog, "ts": self.clock.now - 0.5, "id": f"boot1-{n:04d}", "type": type,
               "severity": severity, "message": message, "data": data}
        return self.service.on_event(dog, doc)

    def close(self) -> None:
        self.service.store.close()
        self.accounts.tables.close()
        self.storage.close()


@pytest.fixture
def world(target, tmp_path):
    w = World(target, tmp_path)
    yield w
    w.close()


def refused(code: str, action) -> IncidentRefused:
    with pytest.raises(IncidentRefused) as caught:
        action()
    assert caught.value.code == code, caught.value
    return caught.value


def test_from_the_alarm_to_the_close_every_step_in_order(world):
    svc = world.service
    opened = svc.open(WANG, "glass break at the kiosk", alarm=("dog1", "boot1-0042"))
    inc = opened["incident"]["id"]
    assert re.fullmatch(r"inc-\d{8}-\d{6}-[0-9a-f]{4}", inc), inc

    sent = svc.dispatch_dog(WANG, inc, "dog1", target={"x": 10.0, "y": -2.5})
    goto = world.command()
    assert (goto.verb, dict(goto.args), goto.issuer) == ("goto", {
        "frame": "odom", "x": 10.0, "y": -2.5, "speed": 0.0, "tolerance_m": 0.0, "timeout_s": 0.0}, "王警官")
    assert sent["command"] == {"verb": "goto", "nonce": goto.nonce}
    assert sent["entry"]["data"]["target"] == {"x": 10.0, "y": -2.5}

    svc.assign_officer(WANG, inc, "officer7", dog="dog1")
    task = world.command()
    assert (task.verb, task.dog, task.issuer) == ("task", "dog1", "王警官")   # from whom: the signer
    assert dict(task.args) == {"incident": inc, "what": "glass break at the kiosk", "frame": "odom",
                               "x": 10.0, "y": -2.5}

    assert [e.kind for e in world.event("dog1", 1, "officer_task", {
        "incident": inc, "officer": "officer7", "state": "accepted"})] == ["unit_status"]
    assert [e.kind for e in world.event("dog1", 2, "goal", {
        "label": "navigate_to odom", "state": "arrived"}, message="navigate_to odom: arrived")] \
        == ["dog_event", "unit_status"]
    world.event("dog1", 3, "officer_task", {"incident": inc, "officer": "officer7", "state": "on_scene"})
    svc.note(WANG, inc, "一人被带走 <b>escorted</b>")
    world.event("dog1", 4, "officer_task", {"incident": inc, "officer": "officer7", "state": "done"})
    closed = svc.close(WANG, inc, "arrest")
    assert closed["incident"]["state"] == "closed"

    doc = svc.get(VIEWER, inc)
    steps = [(e["kind"], e["unit"], e["data"].get("status")) for e in doc["timeline"]]
    assert steps == [("opened", "", None), ("alarm", "dog1", None), ("dog_dispatched", "dog1", None),
                     ("officer_assigned", "officer7", None), ("unit_status", "officer7", "en_route"),
                     ("dog_event", "dog1", None), ("unit_status", "dog1", "on_scene"),
                     ("unit_status", "officer7", "on_scene"), ("note", "", None),
                     ("unit_status", "officer7", "cleared"), ("closed", "", None)]
    times = [e["at"] for e in doc["timeline"]]
    assert times == sorted(times) and times[0] > T0
    by = [e["by"] for e in doc["timeline"]]
    assert by[4] == "officer7" and by[6] == "dog1" and by[2] == "王警官"
    assert doc["timeline"][2]["data"]["nonce"] == goto.nonce
    assert doc["timeline"][3]["data"]["nonce"] == task.nonce
    assert doc["timeline"][5]["data"]["state"] == "arrived"
    assert doc["timeline"][4]["data"]["via"] == "dog1"
    assert {u["unit"]: u["status"] for u in doc["units"]} == {"dog1": "on_scene", "officer7": "cleared"}
    assert (doc["state"], doc["disposition"], doc["alarm"]) == (
        "closed", "arrest", {"dog": "dog1", "event": "boot1-0042"})
    assert doc["closed_at"] == times[-1]

    # Both commands are on the station's audit log, as a console's would be.
    sent_verbs = [a["detail"]["verb"] for a in world.accounts.tables.audit(kind="command")]
    assert sorted(sent_verbs) == ["goto", "task"]
    world.storage.flush()
    assert {c["verb"] for c in world.storage.commands("dog1")} == {"goto", "task"}


def test_an_alarm_opens_an_incident_with_what_the_dog_reported(world):
    svc = world.service
    world.storage.put(EventRow("dog1", T0, {
        "v": 1, "dog": "dog1", "ts": T0 - 3.0, "id": "boot1-0077", "type": "sound",
        "severity": "warning", "message": "glass_break at -6 dBFS", "data": {"class": "glass_break"}}))
    assert world.storage.flush()
    inc = svc.open(WANG, alarm=("dog1", "boot1-0077"))["incident"]["id"]
    doc = svc.get(VIEWER, inc)
    assert doc["summary"] == "glass_break at -6 dBFS"           # no summary given: the alarm's
    assert doc["timeline"][1]["data"] == {"type": "sound", "severity": "warning", "ts": T0 - 3.0,
                                          "message": "glass_break at -6 dBFS", "event": "boot1-0077"}
    # An alarm the station does not hold (yet): opened all the same, on the dog's word.
    other = svc.open(WANG, "by hand", alarm=("dog2", "boot9-0001"))["incident"]["id"]
    assert svc.get(VIEWER, other)["timeline"][1]["data"] == {"event": "boot9-0001"}


def test_what_a_dog_reports_twice_is_recorded_once_and_a_stale_answer_changes_nothing(world):
    svc = world.service
    inc = svc.open(WANG, "fight")["incident"]["id"]
    svc.dispatch_dog(WANG, inc, "dog1", target={"lat": 31.2304, "lon": 121.4737})
    assert dict(world.command().args)["frame"] == "wgs84"
    svc.assign_officer(WANG, inc, "officer7", dog="dog1", what="check the crowd")
    assert dict(world.command().args) == {"incident": inc, "what": "check the crowd", "frame": "wgs84",
                                          "x": 31.2304, "y": 121.4737}   # where the dog went
    arrived = {"label": "navigate_to wgs84", "state": "arrived"}
    assert len(world.event("dog1", 9, "goal", arrived)) == 2
    assert world.event("dog1", 9, "goal", arrived) == []             # QoS 1 redelivery
    answer = {"incident": inc, "officer": "officer7", "state": "on_scene"}
    assert len(world.event("dog1", 10, "officer_task", answer)) == 1
    assert world.event("dog1", 10, "officer_task", answer) == []
    assert world.event("dog1", 11, "officer_task", {**answer, "state": "accepted"}) == []  # backwards
    assert world.event("dog1", 12, "goal", {"label": "x", "state": "preempted"}) == []
    entries = svc.get(ADMIN, inc)["timeline"]
    assert [e["kind"] for e in entries].count("dog_event") == 1
    assert sum(1 for e in entries if e["kind"] == "unit_status") == 2


def test_an_officers_answer_counts_only_through_the_dog_the_task_went_with(world, caplog):
    svc = world.service
    inc = svc.open(WANG, "theft")["incident"]["id"]
    svc.assign_officer(WANG, inc, "officer7", dog="dog1", where={"x": 5.0, "y": 5.0})
    assert dict(world.command().args)["x"] == 5.0
    before = len(svc.get(ADMIN, inc)["timeline"])
    with caplog.at_level("WARNING", logger="robot_dog.security"):
        assert world.event("dog2", 1, "officer_task", {"incident": inc, "officer": "officer7",
                                                       "state": "done"}) == []
    assert "dog2 reported for officer7" in caplog.text
    assert world.event("dog1", 2, "officer_task", {"incident": inc, "officer": "officer9",
                                                   "state": "done"}) == []        # not on it
    assert world.event("dog1", 3, "officer_task", {"incident": "inc-nope", "officer": "officer7",
                                                   "state": "done"}) == []
    assert world.event("dog1", 4, "officer_task", {"incident": inc, "officer": "officer7",
                                                   "state": "lost"}) == []
    assert world.event("dog1", 5, "officer_task", {"incident": [inc]}) == []
    assert world.event("dog1", 6, "sound", {"class": "glass_break"}) == []     # not for a timeline
    assert world.event("dog1", 7, "goal", {"state": "arrived"}) == []          # dog1 is on nothing
    assert len(svc.get(ADMIN, inc)["timeline"]) == before


def test_only_the_dispatching_roles_may_change_an_incident(world):
    svc = world.service
    inc = svc.open(ADMIN, "by an admin")["incident"]["id"]
    for who in (VIEWER, OPERATOR, Principal("o7", "officer", "token")):
        for action in (lambda w=who: svc.open(w, "x"),
                       lambda w=who: svc.dispatch_dog(w, inc, "dog1", target={"x": 1.0, "y": 0.0}),
                       lambda w=who: svc.assign_officer(w, inc, "officer7", dog="dog1",
                                                        where={"x": 1.0, "y": 0.0}),
                       lambda w=who: svc.note(w, inc, "x"),
                       lambda w=who: svc.close(w, inc, "resolved")):
            with pytest.raises(Exception) as caught:
                action()
            assert getattr(caught.value, "code", "") == "forbidden", caught.value
            assert http_status(caught.value) == 403
    assert world.published == [], "nothing was sent for a refused role"
    denied = world.accounts.tables.audit(kind="denied")
    assert {d["actor"] for d in denied} == {"li", "zhao", "o7"}
    assert len(svc.get(VIEWER, inc)["timeline"]) == 1                  # a viewer reads
    assert [i["id"] for i in svc.list_incidents(OPERATOR)] == [inc]
    with pytest.raises(Exception) as caught:
        svc.list_incidents(Principal("o7", "officer", "token"))
    assert caught.value.code == "forbidden"


def test_refusals_carry_codes_and_leave_nothing_behind(world, target, tmp_path):
    svc = world.service
    inc = svc.open(WANG, "refusals")["incident"]["id"]
    length = lambda: len(svc.get(WANG, inc)["timeline"])
    refused("bad_target", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": float("nan"), "y": 0.0}))
    refused("bad_target", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0}))
    refused("bad_target", lambda: svc.dispatch_dog(WANG, inc, "dog1"))
    refused("bad_args", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1e7, "y": 0.0}))
    refused("bad_args", lambda: svc.dispatch_dog(WANG, inc, "dog1", route="downtown"))
    refused("unknown_dog", lambda: svc.dispatch_dog(WANG, inc, "dog3", target={"x": 1.0, "y": 0.0}))
    assert world.published == [] and length() == 1
    exc = refused("unknown_incident", lambda: svc.note(WANG, "inc-none", "x"))
    assert http_status(exc) == 404
    refused("unknown_incident", lambda: svc.get(VIEWER, "inc-none"))
    here = {"x": 1.0, "y": 0.0}
    refused("bad_target", lambda: svc.assign_officer(WANG, inc, "officer7", dog="dog1"))  # sent nowhere
    refused("bad_target", lambda: svc.assign_officer(WANG, inc, "officer7", dog="dog1",
                                                     where={"lat": 95.0, "lon": 0.0}))
    refused("bad_args", lambda: svc.assign_officer(WANG, inc, "officer7", dog="dog1",
                                                   where={"x": 2e6, "y": 0.0}))
    refused("bad_name", lambda: svc.assign_officer(WANG, inc, "", dog="dog1", where=here))
    assert world.published == []
    svc.assign_officer(WANG, inc, "officer7", dog="dog1", where=here)
    exc = refused("already_assigned", lambda: svc.assign_officer(WANG, inc, "officer7", dog="dog1",
                                                                 where=here))
    assert http_status(exc) == 409
    refused("bad_disposition", lambda: svc.close(WANG, inc, "done"))
    refused("not_closed", lambda: svc.reopen(WANG, inc, "why"))
    refused("bad_filter", lambda: svc.list_incidents(VIEWER, state="lost"))
    refused("bad_filter", lambda: svc.list_incidents(VIEWER, since=float("nan")))
    svc.close(WANG, inc, "no_action")
    sent = len(world.published)
    refused("incident_closed", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 0.0}))
    assert len(world.published) == sent, "a closed incident sends nothing"
    svc.reopen(WANG, inc, "the suspect came back")
    assert svc.get(VIEWER, inc)["state"] == "open"

    alarm = ("dog2", "boot1-7")
    svc.open(WANG, "first", alarm=alarm)
    refused("alarm_open", lambda: svc.open(WANG, "second click", alarm=alarm))

    # The broker is down: refused as not_sent, the timeline does not claim a dispatch.
    world.broker_up = False
    n = length()
    exc = refused("not_sent", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 0.0}))
    assert http_status(exc) == 503 and length() == n
    world.broker_up = True

    # A dog whose last status is offline: the dispatch and the task refused unsent, audited.
    svc.status_of = {"dog1": "offline"}.get
    n, sent = length(), len(world.published)
    exc = refused("dog_offline", lambda: svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 0.0}))
    assert http_status(exc) == 409
    refused("dog_offline", lambda: svc.assign_officer(WANG, inc, "officer8", dog="dog1", where=here))
    assert length() == n and len(world.published) == sent
    svc.status_of = lambda dog: None

    # A station without a fleet directory commands nothing.
    bare = IncidentService(svc.store, world.accounts, clock=world.clock)
    exc = refused("commands_disabled", lambda: bare.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 0.0}))
    assert http_status(exc) == 403


def test_a_dog_sent_to_another_incident_leaves_the_first_and_reports_to_the_second(world):
    svc = world.service
    first = svc.open(WANG, "first")["incident"]["id"]
    second = svc.open(WANG, "second")["incident"]["id"]
    svc.dispatch_dog(WANG, first, "dog1", target={"x": 1.0, "y": 0.0})
    svc.dispatch_dog(WANG, second, "dog1", route="patrol", loop=False)
    assert (world.command().verb, dict(world.command().args)) == ("patrol", {"route": "patrol", "waypoints": [], "frame": "odom", "loop": False})
    left = svc.get(VIEWER, first)["timeline"][-1]
    assert (left["kind"], left["unit"], left["data"]) == (
        "unit_status", "dog1", {"reason": "dispatched", "to": second, "status": "cleared"})
    world.event("dog1", 1, "estop", {}, severity="critical", message="e-stop engaged")
    assert svc.get(VIEWER, second)["timeline"][-1]["data"]["type"] == "estop"
    assert svc.get(VIEWER, first)["timeline"][-1] == left
    svc.dispatch_dog(WANG, second, "dog1", route="home")
    assert world.command().verb == "return"


def test_lists_filter_by_state_dog_officer_and_time(world):
    svc = world.service
    a = svc.open(WANG, "a", alarm=("dog2", "boot1-1"))["incident"]["id"]
    b = svc.open(WANG, "b")["incident"]["id"]
    svc.dispatch_dog(WANG, b, "dog1", target={"x": 1.0, "y": 0.0})
    svc.assign_officer(WANG, b, "officer7", dog="dog1")
    svc.close(WANG, a, "false_alarm")
    a_closed = svc.get(VIEWER, a)["closed_at"]
    c = svc.open(WANG, "c")["incident"]["id"]
    ids = lambda **f: [i["id"] for i in svc.list_incidents(VIEWER, **f)]
    assert ids() == [c, b, a]
    assert ids(state="open") == [c, b] and ids(state="closed") == [a]
    assert ids(dog="dog1") == [b] and ids(dog="dog2") == [a]          # the alarm's dog counts
    assert ids(officer="officer7") == [b] and ids(officer="officer9") == []
    assert ids(since=a_closed + 0.5) == [c, b]                         # a was closed by then
    assert ids(until=T0 + 1.5) == [a]                                  # only a was open then
    assert ids(limit=1) == [c]
    [listed] = svc.list_incidents(VIEWER, officer="officer7")
    assert {(u["unit"], u["kind"], u["status"]) for u in listed["units"]} == {
        ("dog1", "dog", "dispatched"), ("officer7", "officer", "dispatched")}


def test_recordings_and_stills_overlapping_the_incident_are_linked_when_read(world):
    svc = world.service
    inc = svc.open(WANG, "evidence", alarm=("dog2", "boot1-5"))["incident"]["id"]
    opened = svc.get(VIEWER, inc)["opened_at"]
    svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 0.0})
    world.clock.now += 60.0

    def recording(dog, name, start, end, items):
        world.storage.put(EvidenceRecordingRow(dog, name, "DEV", "7", "e-stop", start, end, False,
                                               len(items), start))
        for seq, (kind, s, e) in enumerate(items, 1):
            world.storage.put(EvidenceItemRow(dog, name, seq, kind, f"{seq:06d}-{kind}.mp4", 10,
                                              f"{seq:064x}", s, e, "verified", e))

    during = [("segment", opened - 60, opened - 30), ("segment", opened - 30, opened + 30),
              ("still", opened + 31, opened + 31)]
    recording("dog1", "R-before", opened - 500, opened - 100, [("segment", opened - 500, opened - 100)])
    recording("dog1", "R-during", opened - 60, None, during)
    recording("dog2", "R-alarm", opened - 5, opened + 5, [("segment", opened - 5, opened + 5)])
    recording("dog3", "R-other", opened, opened + 5, [("segment", opened, opened + 5)])
    assert world.storage.flush()

    def linked():
        return {(r["dog"], r["recording"]): [(i["seq"], i["kind"], i["sha256"]) for i in r["items"]]
                for r in svc.get(VIEWER, inc)["evidence"]}
    assert linked() == {("dog1", "R-during"): [(2, "segment", f"{2:064x}"), (3, "still", f"{3:064x}")],
                        ("dog2", "R-alarm"): [(1, "segment", f"{1:064x}")]}
    svc.close(WANG, inc, "resolved")
    # Uploaded after the close: a still taken after it is not the incident's; the rest stays.
    world.clock.now += 100.0
    recording("dog1", "R-during", opened - 60, None, [*during, ("still", opened + 90, opened + 90)])
    assert world.storage.flush()
    assert [seq for seq, _, _ in linked()[("dog1", "R-during")]] == [2, 3]


def test_exports_as_json_and_a_printable_page_escaped_in_both_languages(world):
    svc = world.service
    inc = svc.open(WANG, "<script>alert(1)</script>", alarm=("dog1", "boot1-9"))["incident"]["id"]
    svc.dispatch_dog(WANG, inc, "dog1", target={"x": 3.0, "y": 4.0})
    svc.note(WANG, inc, '"quoted" & <img src=x onerror=alert(2)>')
    svc.close(WANG, inc, "false_alarm")
    doc = svc.export_json(VIEWER, inc)
    assert doc["format"] == "robot-dog incident v1" and doc["exported_by"] == "li"
    assert json.loads(json.dumps(doc)) == doc
    assert [e["kind"] for e in doc["incident"]["timeline"]] == [
        "opened", "alarm", "dog_dispatched", "note", "closed"]
    assert world.accounts.tables.audit(kind="incident_export")[0]["target"] == inc
    for lang, words in (("en", ("Timeline", "false alarm", "dog dispatched")),
                        ("zh", ("时间线", "误报", "派遣机器狗"))):
        page = svc.export_html(VIEWER, inc, lang)
        assert "<script>" not in page and "<img" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page
        assert all(w in page for w in words), (lang, words)
        assert page.count("<tr>") == 3 + 5 + 1 + 1   # heads, timeline, the unit, "none"
    refused("bad_filter", lambda: svc.export_html(VIEWER, inc, "fr"))


def test_a_writer_that_read_an_old_timeline_cannot_append_over_a_newer_one(world, target):
    svc = world.service
    inc = svc.open(WANG, "two workers")["incident"]["id"]
    other = IncidentTables(target)                      # a second station worker's connection
    try:
        from robot_dog.station.incidents import Incident
        stale = Incident.replay(inc, other.entries(inc))
        svc.note(WANG, inc, "first, by this worker")
        stale.note("second, by the other", at=world.clock(), by="zhou")
        with pytest.raises(TimelineConflict):
            other.append(stale, 1)
        # Read again and re-applied, the note lands after the first one.
        fresh = Incident.replay(inc, other.entries(inc))
        fresh.note("second, by the other", at=world.clock(), by="zhou")
        other.append(fresh, 2)
        assert [e["data"].get("text") for e in svc.get(VIEWER, inc)["timeline"]] == [
            None, "first, by this worker", "second, by the other"]
    finally:
        other.close()


def test_the_stored_timeline_survives_a_restart_of_the_station(world, target):
    svc = world.service
    inc = svc.open(WANG, "restart")["incident"]["id"]
    svc.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 2.0})
    before = svc.get(VIEWER, inc)
    svc.store.close()
    svc.store = IncidentTables(target)
    assert svc.get(VIEWER, inc) == before
    world.event("dog1", 1, "goal", {"label": "navigate_to odom", "state": "arrived"})
    assert svc.get(VIEWER, inc)["units"] == [{"unit": "dog1", "kind": "dog", "status": "on_scene"}]


def test_no_statement_in_the_station_updates_or_deletes_timeline_entries():
    """Append-only, like the audit table: one INSERT and one SELECT touch incident_entries."""
    assert [s.split()[0] for s in ENTRY_SQL] == ["INSERT", "SELECT"]
    pattern = re.compile(r"\b(UPDATE\s+incident_entries|DELETE\s+FROM\s+incident_entries|"
                         r"DROP\s+TABLE\s+incident_entries|TRUNCATE\s+incident_entries|"
                         r"INTO\s+incident_entries\b.*ON\s+CONFLICT)", re.IGNORECASE)
    offenders = [f"{path.relative_to(REPO)}: {m.group(0)}"
                 for path in (REPO / "robot_dog").rglob("*.py")
                 for m in pattern.finditer(path.read_text())]
    assert offenders == []


def test_the_command_line_lists_shows_and_exports(tmp_path, capsys):
    from robot_dog.station import cli as station_cli
    db = tmp_path / "station.db"
    w = World(db, tmp_path)
    try:
        inc = w.service.open(WANG, "kiosk", alarm=("dog1", "boot1-1"))["incident"]["id"]
        w.service.dispatch_dog(WANG, inc, "dog1", target={"x": 1.0, "y": 2.0})
        w.service.close(WANG, inc, "resolved")
    finally:
        w.close()
    assert station_cli.main(["incidents", "list", "--state", "closed", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{inc}\tclosed\t") and "dog1:dispatched" in out and out.endswith("kiosk\n")
    assert station_cli.main(["incidents", "show", inc, "--db", str(db)]) == 0
    assert "dog_dispatched" in capsys.readouterr().out
    assert station_cli.main(["incidents", "export", inc, "--db", str(db)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["incident"]["id"] == inc and exported["exported_by"].startswith("local:")
    page = tmp_path / "case.html"
    assert station_cli.main(["incidents", "export", inc, "--html", "--lang", "zh", "-o", str(page),
                             "--db", str(db)]) == 0
    assert "已处置" in page.read_text(encoding="utf-8")
    assert station_cli.main(["incidents", "show", "inc-none", "--db", str(db)]) == 1
    assert capsys.readouterr().err.endswith("(unknown_incident)\n")


def test_two_station_workers_appending_at_once_lose_nothing_and_never_interleave(world, target):
    """Two workers (each its own connection and lock) note on one incident from two threads:
    every note either lands or is refused busy_incident; the stored story has each worker's
    notes in its own order, and what landed is all there, once."""
    import threading
    inc = world.service.open(WANG, "two workers")["incident"]["id"]
    other = IncidentService(IncidentTables(target), Accounts(AccountTables(target)), clock=world.clock)
    landed: dict[str, list[str]] = {"a": [], "b": []}

    def worker(name: str, svc: IncidentService) -> None:
        for n in range(15):
            try:
                svc.note(WANG, inc, f"{name}{n}")
                landed[name].append(f"{name}{n}")
            except IncidentRefused as exc:
                assert exc.code == "busy_incident", exc
    threads = [threading.Thread(target=worker, args=("a", world.service)),
               threading.Thread(target=worker, args=("b", other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        texts = [e["data"]["text"] for e in world.service.get(VIEWER, inc)["timeline"][1:]]
        assert sorted(texts) == sorted(landed["a"] + landed["b"])
        for name in ("a", "b"):
            assert [t for t in texts if t.startswith(name)] == landed[name]
        assert len(landed["a"]) + len(landed["b"]) >= 15, landed   # most land at the first tries
        assert world.service.store.row(inc).entries == 1 + len(texts)
    finally:
        other.store.close()
        other.accounts.tables.close()
