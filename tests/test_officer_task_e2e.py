"""The officer's task end to end over the real, secured link: the station signs `task` (its
account is the task's sender), Mosquitto carries it to uplink_node, which calls teleop_node's
`teleop/task`; with no officer paired the dog refuses it with `no_officer`; once 王警官's phone
(a scripted page over the fleet-CA TLS) is paired the task shows on it, and the officer's Accept
comes back to the station as the `officer_task` event in its fixed shape, beside the `handheld`
events that say who did what. Then the whole loop through the station's incidents: a
commander assigns 王警官 to an incident with the dog, the task reaches the phone, and the
officer's Accept and On scene land in the incident's timeline as the officer's unit status. The
station's `revoke_handheld` then closes the phone and its token no longer resumes."""
from __future__ import annotations

import ssl
import time
from functools import partial
from types import SimpleNamespace

import pytest

from robot_dog.station.accounts import Principal
from robot_dog.station.app import Station, StationConfig
from robot_dog.teleop.certs import issue_teleop_cert
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.ros_nodes import NodeProcess
from tests.support import free_port
from tests.test_station_secure_e2e import Api
from tests.test_teleop_handheld_e2e import pairing_code
from tests.test_teleop_officers import close_code
from tests.test_teleop_server import Phone
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)
WANG = "王警官"
TASK = {"incident": "inc-42", "what": "glass break at the east gate", "frame": "odom",
        "x": 12.0, "y": -3.5}


def events(api: Api, type_: str) -> list[dict]:
    return [e for e in api.get("/api/dogs/dog1/events")["events"] if e["type"] == type_]


def task_on(phone: Phone, timeout_s: float = 60.0) -> dict:
    """The task in the phone's state reports (read until one carries it)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        state = phone.expect("state", timeout=end - time.monotonic())
        if state.get("task"):
            return state["task"]
    raise AssertionError("no task reached the phone")


def test_task_from_the_station_to_the_officers_phone_and_back(secure_broker, children,
                                                             dog_namespace, tmp_path):
    fleet_root = secure_broker.fleet.root
    cert, key = issue_teleop_cert(fleet_root, "dog1")
    port = free_port()
    teleop = NodeProcess("robot_dog.teleop.node", dog_namespace, tmp_path / "teleop.log",
                         port=port, cert_file=cert, key_file=key)
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=fleet_root)).start()
    try:
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        api = Api(station.http.port, api_token(station.accounts))
        wait_for(lambda: "handheld page on https://" in teleop.output(), "the handheld server")

        # no officer paired: the dog refuses the task with its code (the uplink may still be
        # discovering teleop/task at first: `unavailable` then)
        wait_for(lambda: api.command("dog1", "task", TASK)[1].get("result", {}).get("code")
                 == "no_officer", "the task refused for want of an officer")
        status, body = api.command("dog1", "task", {**TASK, "sender": "chief"})
        assert (status, body["code"]) == (400, "bad_args"), body   # the sender is the signer

        ctx = ssl.create_default_context(cafile=str(secure_broker.fleet.paths.ca_cert))
        phone = Phone(SimpleNamespace(port=port), ctx)
        phone.send("pair", code=pairing_code(dog_namespace, WANG))
        token = phone.expect("paired")["token"]

        status, body = api.command("dog1", "task", TASK)
        assert body["result"]["code"] == "ok", body
        assert WANG in body["result"]["message"]
        issuer = next(c["issuer"] for c in api.get("/api/dogs/dog1/commands")["commands"]
                      if c["verb"] == "task")       # the account the station signed it for
        task = task_on(phone)
        assert task == {**{k: TASK[k] for k in ("incident", "what", "frame", "x", "y")},
                        "from": issuer, "dog": "dog1", "state": ""}

        phone.send("task", incident="inc-42", state="accepted")
        assert phone.expect("result")["ok"]
        [event] = wait_for(lambda: events(api, "officer_task"), "the officer_task event")
        assert event["data"] == {"incident": "inc-42", "officer": WANG, "state": "accepted"}
        assert event["dog"] == "dog1" and event["severity"] == "info"
        handheld = wait_for(lambda: events(api, "handheld"), "the handheld events")
        assert {e["data"]["officer"] for e in handheld} == {WANG}

        # the incident loop: assigned at the station, answered on the phone, in the timeline
        chief = Principal("指挥员李", "commander", "session")
        svc = station.incidents
        inc = svc.open(chief, "glass break at the east gate")["incident"]["id"]
        svc.assign_officer(chief, inc, WANG, dog="dog1", where={"x": 12.0, "y": -3.5})
        wait_for(lambda: task_on(phone)["incident"] == inc, "the incident's task on the phone")
        for answer in ("accepted", "on_scene"):
            phone.send("task", incident=inc, state=answer)
            assert phone.expect("result")["ok"]

        def statuses() -> list[str]:
            return [e["data"].get("status") for e in svc.get(chief, inc)["timeline"]
                    if e["kind"] == "unit_status" and e["unit"] == WANG]
        wait_for(lambda: statuses() == ["en_route", "on_scene"], "the officer's answers in the timeline")

        # the phone is lost: the station revokes it
        status, body = api.command("dog1", "revoke_handheld", {})
        assert body["result"]["code"] == "ok" and WANG in body["result"]["message"], body
        assert close_code(phone) == 4004
        back = Phone(SimpleNamespace(port=port), ctx)
        back.send("hello", token=token)
        assert back.expect("refused")["code"] == "not_paired"
        back.ws.close()
        status, body = api.command("dog1", "task", TASK)
        assert body["result"]["code"] == "no_officer", body
    finally:
        teleop.kill()
        station.stop()
        children.reap()
