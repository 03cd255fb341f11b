"""The incident core: the response story from the alarm to the close, its rules and refusals,
and that the stored timeline alone rebuilds the incident (replay == the incident built)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_dog.station.incidents import (DISPOSITIONS, UNIT_STATUSES, Entry, Incident,
                                         IncidentRefused)


def refused(code: str, action) -> None:
    with pytest.raises(IncidentRefused) as caught:
        action()
    assert caught.value.code == code, caught.value


def test_from_the_alarm_to_the_close_every_step_in_order():
    incident = Incident.open("inc-1", at=100.0, by="王警官", summary="glass break at the kiosk",
                             alarm=("dog1", "b7-42"))
    incident.dispatch_dog("dog1", at=101.0, by="王警官", target={"x": 10.0, "y": -2.5})
    incident.assign_officer("officer7", at=102.0, by="王警官")
    incident.unit_status("officer7", "en_route", at=103.0, by="officer7")
    incident.dog_event("dog1", {"type": "goal_arrived", "severity": "info", "extra": 1}, at=110.0)
    incident.unit_status("dog1", "on_scene", at=110.0, by="dog1")
    incident.unit_status("officer7", "on_scene", at=125.0, by="officer7")
    incident.note("一人被带走 <b>escorted</b>", at=126.0, by="officer7")
    incident.close("arrest", at=130.0, by="王警官")
    kinds = [e.kind for e in incident.timeline]
    assert kinds == ["opened", "alarm", "dog_dispatched", "officer_assigned", "unit_status",
                     "dog_event", "unit_status", "unit_status", "note", "closed"]
    assert incident.status_of("dog1") == incident.status_of("officer7") == "on_scene"
    assert incident.closed and incident.disposition == "arrest"
    assert incident.timeline[5].data == {"type": "goal_arrived", "severity": "info"}
    assert incident.timeline[8].data["text"] == "一人被带走 <b>escorted</b>"   # kept; escaped where shown
    doc = incident.to_doc()
    assert doc["units"] == [{"unit": "dog1", "kind": "dog", "status": "on_scene"},
                            {"unit": "officer7", "kind": "officer", "status": "on_scene"}]


def test_the_rules_refuse_with_codes():
    incident = Incident.open("inc-2", at=0.0, by="ops", summary="")
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops", target={"x": float("nan"), "y": 0}))
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops", target={"x": 1.0}))
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops", target={"lat": 91, "lon": 0}))
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops", target={"x": True, "y": 0}))
    refused("unknown_unit", lambda: incident.unit_status("dog1", "en_route", at=1, by="ops"))
    incident.dispatch_dog("dog1", at=1, by="ops", target={"lat": 31.2, "lon": 121.5})
    refused("bad_status", lambda: incident.unit_status("dog1", "lost", at=2, by="ops"))
    incident.unit_status("dog1", "on_scene", at=2, by="dog1")            # skipping ahead is fine
    refused("status_backwards", lambda: incident.unit_status("dog1", "en_route", at=3, by="dog1"))
    refused("unit_kind", lambda: incident.assign_officer("dog1", at=3, by="ops"))
    incident.assign_officer("officer7", at=3, by="ops")
    refused("already_assigned", lambda: incident.assign_officer("officer7", at=4, by="ops"))
    refused("bad_name", lambda: incident.note("x", at=4, by=""))
    refused("bad_name", lambda: incident.note("x", at=4, by="a\x00b"))
    refused("bad_text", lambda: incident.note("x" * 2001, at=4, by="ops"))
    refused("bad_disposition", lambda: incident.close("done", at=5, by="ops"))
    refused("not_closed", lambda: incident.reopen("why", at=5, by="ops"))
    incident.close("false_alarm", at=5, by="ops")
    refused("incident_closed", lambda: incident.dispatch_dog("dog2", at=6, by="ops", target={"x": 0, "y": 0}))
    incident.note("a note after the close is still kept", at=6, by="ops")
    incident.reopen("the suspect came back", at=7, by="ops")
    incident.dispatch_dog("dog1", at=8, by="ops", target={"x": 0, "y": 0})   # a second point
    assert not incident.closed


def test_a_clock_that_steps_back_never_reorders_the_story():
    incident = Incident.open("inc-3", at=100.0, by="ops", summary="")
    entry = incident.note("later", at=90.0, by="ops")
    assert entry.at == 100.0 and [e.at for e in incident.timeline] == [100.0, 100.0]


def test_a_stored_timeline_must_begin_with_its_opening():
    refused("corrupt_timeline", lambda: Incident.replay("inc-4", [Entry(1.0, "ops", "note")]))
    refused("unknown_entry", lambda: Incident.replay("inc-4", [Entry(1.0, "ops", "opened"),
                                                               Entry(2.0, "ops", "deleted")]))


UNITS = ("dog1", "dog2", "officer7")
ACTION = st.one_of(
    st.tuples(st.just("dispatch"), st.sampled_from(UNITS)),
    st.tuples(st.just("assign"), st.sampled_from(UNITS)),
    st.tuples(st.just("status"), st.sampled_from(UNITS), st.sampled_from(UNIT_STATUSES + ("bogus",))),
    st.tuples(st.just("close"), st.sampled_from(DISPOSITIONS + ("maybe",))),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("note")))


@settings(max_examples=300, deadline=None)
@given(st.lists(ACTION, max_size=30))
def test_any_sequence_replays_to_the_same_incident_and_no_unit_goes_back(actions):
    incident = Incident.open("inc-p", at=0.0, by="ops", summary="s")
    seen: dict[str, int] = {}
    for t, action in enumerate(actions, start=1):
        kind, *rest = action
        try:
            if kind == "dispatch":
                incident.dispatch_dog(rest[0], at=t, by="ops", target={"x": 1.0, "y": 2.0})
            elif kind == "assign":
                incident.assign_officer(rest[0], at=t, by="ops")
            elif kind == "status":
                incident.unit_status(rest[0], rest[1], at=t, by="ops")
            elif kind == "close":
                incident.close(rest[0], at=t, by="ops")
            elif kind == "reopen":
                incident.reopen("r", at=t, by="ops")
            else:
                incident.note("n", at=t, by="ops")
        except IncidentRefused:
            pass  # refused: no entry made (checked by the replay below)
        for unit, (_, status) in incident.units.items():
            rank = UNIT_STATUSES.index(status)
            last_entry = incident.timeline[-1]
            rejoined = last_entry.kind in ("dog_dispatched", "officer_assigned") and last_entry.unit == unit
            assert rank >= seen.get(unit, 0) or rejoined
            seen[unit] = rank
    again = Incident.replay("inc-p", list(incident.timeline))
    assert again.to_doc() == incident.to_doc()


def test_a_dog_is_sent_to_a_point_or_along_a_route_and_the_caller_adds_to_the_record():
    incident = Incident.open("inc-4", at=0.0, by="ops", summary="")
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops"))
    refused("bad_target", lambda: incident.dispatch_dog("dog1", at=1, by="ops", target={"x": 0, "y": 0},
                                                        route="patrol"))
    refused("bad_name", lambda: incident.dispatch_dog("dog1", at=1, by="ops", route=""))
    sent = incident.dispatch_dog("dog1", at=1, by="ops", route="patrol",
                                 extra={"verb": "patrol", "nonce": "n1", "route": "forged"})
    assert sent.data == {"verb": "patrol", "nonce": "n1", "route": "patrol"}   # where: the rule's
    told = incident.unit_status("dog1", "on_scene", at=2, by="dog1", extra={"event": "e1", "status": "x"})
    assert told.data == {"event": "e1", "status": "on_scene"}
    assert Incident.replay("inc-4", incident.timeline).to_doc() == incident.to_doc()
