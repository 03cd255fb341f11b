"""Incidents end to end: the real station on the secured Mosquitto, and a scripted dog that
speaks the real protocol with dog1's own credential and keys (paho): it verifies each signed
command as the uplink does, answers with a signed result, and reports what the dog and the
officer at it would: the officer accepts the task, the dog arrives, the officer is on scene.
Every step lands in the incident's timeline in the order it happened."""
from __future__ import annotations

import json
import threading
import time
from functools import partial

import pytest

from robot_dog.mqtt import results, signing, topics
from robot_dog.mqtt.topics import Kind
from robot_dog.station.accounts import Principal
from robot_dog.station.app import Station, StationConfig
from tests import support

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=60.0)
WANG = Principal("王警官", "commander", "session")


class ScriptedDog:
    """dog1 on the broker: verified commands in, signed results and events out."""

    def __init__(self, broker) -> None:
        self.client = broker.paho("dog1")
        self.command_key = signing.load_verify_key(broker.public_key("dog1"))
        self.result_key = signing.load_signing_key(broker.fleet.paths.dog_result_key("dog1"))
        self.replay = signing.ReplayCache()
        self.commands: list[signing.Command] = []
        self.subscribed = threading.Event()
        self._n = 0
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: self.subscribed.set()
        self.client.subscribe(topics.commands_of("dog1"), qos=1)

    def _on_message(self, client, userdata, msg) -> None:
        parsed = topics.parse(msg.topic)
        if parsed.kind is not Kind.CMD or parsed.sub == "checkin":   # our own results, heartbeats
            return
        verb = parsed.sub
        command = signing.verify(msg.payload, dog="dog1", public_key=self.command_key,
                                 now=time.time(), replay=self.replay, verb=str(verb))
        self.commands.append(command)
        client.publish(topics.cmd_result("dog1"), results.sign(
            self.result_key, "dog1", time.time(), code="ok", command=command), qos=1)

    def event(self, type: str, data: dict, message: str = "", severity: str = "info") -> str:
        self._n += 1
        doc = {"v": 1, "dog": "dog1", "ts": time.time(), "id": f"script-{self._n:04d}",
               "type": type, "severity": severity, "message": message, "data": data}
        self.client.publish(topics.events("dog1"), json.dumps(doc), qos=1).wait_for_publish(30)
        return doc["id"]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_an_officers_answers_and_the_dogs_arrival_land_in_the_timeline_in_order(secure_broker, tmp_path):
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root,
                                    evidence_dir=tmp_path / "evidence")).start()
    dog = ScriptedDog(secure_broker)
    try:
        wait_for(station.connected.is_set, "the station connected")
        wait_for(dog.subscribed.is_set, "the scripted dog subscribed to its commands")
        svc = station.incidents
        alarm = dog.event("sound", {"class": "glass_break"}, "glass break at the kiosk", "warning")
        wait_for(lambda: station.storage.event("dog1", alarm), "the alarm at the station")
        inc = svc.open(WANG, alarm=("dog1", alarm))["incident"]["id"]   # the summary: its message
        assert svc.get(WANG, inc)["summary"] == "glass break at the kiosk"
        svc.dispatch_dog(WANG, inc, "dog1", target={"x": 10.0, "y": 0.0})
        svc.assign_officer(WANG, inc, "officer7", dog="dog1")
        wait_for(lambda: [c.verb for c in dog.commands] == ["goto", "task"], "goto and task at the dog")
        goto, task = dog.commands
        assert (goto.args["x"], goto.args["y"], goto.issuer) == (10.0, 0.0, "王警官")
        assert (task.args["incident"], task.args["x"], task.dog, task.issuer) == (inc, 10.0, "dog1", "王警官")

        dog.event("officer_task", {"incident": inc, "officer": "officer7", "state": "accepted"})
        dog.event("goal", {"label": "navigate_to odom", "state": "arrived"}, "navigate_to odom: arrived")
        dog.event("officer_task", {"incident": inc, "officer": "officer7", "state": "on_scene"})

        def timeline():
            return svc.get(WANG, inc)["timeline"]
        wait_for(lambda: len(timeline()) >= 8, "the reports in the timeline")
        steps = [(e["kind"], e["unit"], e["data"].get("status") or e["data"].get("state")
                  or e["data"].get("type")) for e in timeline()]
        assert steps == [("opened", "", None), ("alarm", "dog1", "sound"),
                         ("dog_dispatched", "dog1", None), ("officer_assigned", "officer7", None),
                         ("unit_status", "officer7", "en_route"), ("dog_event", "dog1", "arrived"),
                         ("unit_status", "dog1", "on_scene"), ("unit_status", "officer7", "on_scene")]
        times = [e["at"] for e in timeline()]
        assert times == sorted(times)
        # The commands' audit rows hold the dog's signed answers, as any command's do.
        wait_for(lambda: {c["verb"]: c["code"] for c in station.storage.commands("dog1")}
                 == {"goto": "ok", "task": "ok"}, "the dog's answers in the command log")
        svc.close(WANG, inc, "arrest")
        assert [i["id"] for i in svc.list_incidents(WANG, state="closed", officer="officer7")] == [inc]
    finally:
        dog.stop()
        station.stop()
