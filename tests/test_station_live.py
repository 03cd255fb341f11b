"""WS /api/live, the console page's one live connection, from outside with a real WebSocket
client (websockets) and raw sockets: who may open it and who may command on it, what it
pushes, video as binary messages with the newest frame winning, and a client that never reads
while another viewer keeps watching."""
from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from robot_dog.station import live_socket, web
from robot_dog.station.accounts import local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import EventRow, StatusRow, Storage, TelemetryRow
from robot_dog.station.talk import TalkRelay
from robot_dog.station.web import StationHttp
from tests.fixtures.command_keys import command_keys

JPEG = b"\xff\xd8\xff\xe0" + b"\x02" * 128 + b"\xff\xd9"
PASSWORD = "correct horse battery"


@pytest.fixture
def station(tmp_path):
    keys = command_keys(tmp_path, "dog1")
    storage = Storage(tmp_path / "s.db")
    published: list[tuple[str, bytes]] = []
    dispatcher = Dispatcher(keys.dir, lambda topic, payload, qos: published.append((topic, payload))
                            or 0, storage)
    talk = TalkRelay(lambda topic, payload, qos, expiry: None, lambda: 0)
    server = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher, talk=talk).start()
    server.published = published
    admin = local_admin("test")
    for name, role in (("vera", "viewer"), ("otto", "operator"), ("王警官", "operator"),
                       ("olga", "officer")):
        server.accounts.add_account(admin, name, role, PASSWORD)
    yield server
    server.stop()
    storage.close()


def login(station, name: str = "vera") -> str:
    """A password login; the session cookie (the CSRF token: `csrf_of`)."""
    return _login(station, name)[0]


def _login(station, name: str) -> tuple[str, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{station.port}/api/login", data=json.dumps(
        {"name": name, "password": PASSWORD}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as reply:
        return reply.headers["Set-Cookie"].split(";", 1)[0], json.load(reply)["csrf"]


def page(station, cookie: str, origin: str | None = None):
    origin = origin or f"http://127.0.0.1:{station.port}"
    return connect(f"ws://127.0.0.1:{station.port}/api/live", origin=origin,
                   additional_headers={"Cookie": cookie}, open_timeout=30, max_size=2**22)


def receive_until(ws, match, timeout_s: float = 30.0):
    """Messages until one for which match(message) is true (JSON dict or (header, jpeg))."""
    end = time.monotonic() + timeout_s
    while True:
        raw = ws.recv(timeout=max(0.1, end - time.monotonic()))
        if isinstance(raw, bytes):
            (size,) = struct.unpack(">I", raw[:4])
            message = (json.loads(raw[4:4 + size]), raw[4 + size:])
        else:
            message = json.loads(raw)
        if match(message):
            return message


def is_type(kind):
    return lambda m: isinstance(m, dict) and m.get("type") == kind


def test_only_a_logged_in_page_of_this_station_opens_it(station):
    for headers, origin in (({}, None), ({"Cookie": "robot_dog_session=forged"}, None),
                            ({"Cookie": login(station)}, "http://evil.example")):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{station.port}/api/live", additional_headers=headers,
                    origin=origin or f"http://127.0.0.1:{station.port}", open_timeout=30)
        assert refused.value.response.status_code == 403


def test_pushes_what_ingest_stores_and_the_fleet_on_hello(station):
    now = time.time()
    station.storage.put(StatusRow("dog1", "online", now))
    station.storage.flush()
    with page(station, login(station)) as ws:
        hello = receive_until(ws, is_type("hello"))
        assert [d["dog"] for d in hello["fleet"]] == ["dog1"]
        assert (hello["name"], hello["role"]) == ("vera", "viewer")
        assert {"watch", "listen"} <= set(hello["actions"]) and "command" not in hello["actions"]
        assert "estop" in {v["name"] for v in hello["verbs"]["verbs"]}, "the registry's catalogue"
        assert "drive" not in {v["name"] for v in hello["verbs"]["verbs"]}
        station.row(TelemetryRow("dog1", now, {"v": 1, "dog": "dog1", "seq": 7, "ts": now}))
        station.row(EventRow("dog1", now, {"v": 1, "dog": "dog1", "id": "evt-1", "ts": now,
                                           "type": "sound", "severity": "critical",
                                           "message": "<img src=x onerror=alert(1)>"}))
        got: dict = {}
        receive_until(ws, lambda m: isinstance(m, dict) and got.setdefault(m["type"], m)
                      and {"telemetry", "event"} <= set(got))
        assert got["telemetry"]["doc"]["seq"] == 7
        event = got["event"]
        assert event["doc"]["message"] == "<img src=x onerror=alert(1)>", "data, as it came"


def test_a_dog_that_stops_sending_raises_the_stations_offline_alarm_acknowledged_by_name(station):
    """The station's own alarm (station/link_watch.py): a dog heard online that falls silent is
    pushed to the page as a critical `offline` event, stored like the dogs' events (GET
    /api/alarms counts it unacknowledged), acknowledged with who and when; heard again, an
    `online` event (info). The dog's messages arrive the way ingest hands them over."""
    station.link_watch.silent_after_s = 2.0
    cookie, csrf = _login(station, "otto")
    with page(station, cookie) as ws:
        hello = receive_until(ws, is_type("hello"))
        assert hello["battery_levels"] == {"warning": 0.20, "critical": 0.15}
        ws.send(json.dumps({"type": "auth", "csrf": csrf}))
        assert receive_until(ws, is_type("auth"))["ok"] is True
        station.row(StatusRow("dog1", "online", time.time()))
        for seq in range(3):    # then nothing more from dog1
            station.row(TelemetryRow("dog1", time.time(), {"v": 1, "dog": "dog1", "seq": seq,
                                                           "ts": time.time()}))
        last_heard = time.time()
        alarm = receive_until(ws, lambda m: is_type("event")(m) and m["doc"]["type"] == "offline",
                              timeout_s=20)
        raised = alarm["doc"]
        assert (raised["severity"], raised["origin"], raised["data"]["reason"]) == (
            "critical", "station", "silent")
        assert 2.0 < raised["ts"] - last_heard < 6.0, "after the silence, within a tick or two"
        station.storage.flush()
        stored = station.storage.alarms(10, "dog1")[0]
        assert (stored["id"], stored["acked_by"]) == (raised["id"], None)
        assert station.storage.unacknowledged() == 1
        ws.send(json.dumps({"type": "ack", "dog": "dog1", "event_id": raised["id"]}))
        ack = receive_until(ws, is_type("ack"))
        assert (ack["event_id"], ack["acked_by"]) == (raised["id"], "otto")
        station.storage.flush()
        stored = station.storage.alarms(10, "dog1")[0]
        assert stored["acked_by"] == "otto" and abs(stored["acked_at"] - time.time()) < 30
        assert station.storage.unacknowledged() == 0
        time.sleep(2.5)   # still silent: no second alarm for the same outage
        station.row(TelemetryRow("dog1", time.time(), {"v": 1, "dog": "dog1", "seq": 9,
                                                       "ts": time.time()}))
        back = receive_until(ws, is_type("event"))["doc"]
        assert (back["type"], back["severity"]) == ("online", "info")
        assert back["data"]["offline_s"] >= 2.0
    station.storage.flush()
    assert [a["type"] for a in station.storage.alarms(10, "dog1")] == ["online", "offline"]


def test_a_shared_group_worker_raises_no_offline_alarm_of_its_own(tmp_path):
    """The switch a worker of a shared group is started with (app.py: link_alarms is off with
    shared_group; each worker hears only its share of a dog's telemetry, and each would raise
    its own alarm): a dog that goes offline raises nothing there."""
    storage = Storage(tmp_path / "w.db")
    server = StationHttp(storage, FrameRelay(), port=0, link_alarms=False).start()
    try:
        assert server.link_watch is None
        server.row(StatusRow("dog1", "online", time.time()))
        server.row(StatusRow("dog1", "offline", time.time()))
        storage.flush()
        assert storage.alarms(10) == []
    finally:
        server.stop()
        storage.close()


def test_rows_pushed_from_two_ingest_threads_at_once_all_arrive_each_in_order(station):
    """Rows reach the loop in bursts (one wake-up for the rows that come before it runs): a
    burst from two threads at once loses none and keeps each thread's order."""
    with page(station, login(station)) as ws:
        receive_until(ws, is_type("hello"))
        now = time.time()

        def burst(dog: str) -> None:
            for i in range(150):
                station.row(EventRow(dog, now, {"v": 1, "dog": dog, "id": f"{dog}-{i}", "ts": now,
                                                "type": "sound", "severity": "info", "message": ""}))
        threads = [threading.Thread(target=burst, args=(dog,)) for dog in ("dog1", "dog2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        ids: dict[str, list[int]] = {"dog1": [], "dog2": []}
        receive_until(ws, lambda m: is_type("event")(m) and not ids[m["doc"]["dog"]].append(
            int(m["doc"]["id"].rsplit("-", 1)[1])) and all(len(v) == 150 for v in ids.values()))
        assert ids == {"dog1": list(range(150)), "dog2": list(range(150))}


def test_video_goes_to_the_tiles_watched_newest_frame_first(station):
    with page(station, login(station)) as ws:
        receive_until(ws, is_type("hello"))
        station.relay.publish(Frame("dog1", "bodycam", JPEG, 1.0))
        ws.send(json.dumps({"type": "watch", "tiles": [{"id": "a", "dog": "dog1",
                                                         "camera": "bodycam"}]}))
        header, jpeg = receive_until(ws, lambda m: isinstance(m, tuple))
        assert header["tile"] == "a" and header["dog"] == "dog1" and jpeg == JPEG
        for n in range(50):  # a burst: the page gets the newest, not a queue of them all
            station.relay.publish(Frame("dog1", "bodycam", JPEG + bytes([n]), 2.0 + n))
        header, jpeg = receive_until(ws, lambda m: isinstance(m, tuple) and m[0]["received"] == 51.0)
        assert jpeg == JPEG + bytes([49])
        for bad in ({"type": "watch", "tiles": [{"id": "x", "dog": "../etc", "camera": "c"}]},
                    {"type": "watch", "tiles": [{"id": str(i), "dog": "d", "camera": "c"}
                                                for i in range(100)]},
                    {"type": "nope"}, [1, 2]):
            ws.send(json.dumps(bad))
            assert "bad message" in receive_until(ws, is_type("error"))["error"]


def test_each_tile_gets_the_size_and_rate_it_asks_for(station):
    """A thumbnail tile 300 px wide at 5 fps and a dog view at full size and rate, on one page:
    the thumbnail gets the frame reduced to 320x240 and at most about 5 a second while the
    dog sends 25; the view gets every frame as the dog sent it. Bad sizes and rates refused."""
    import cv2
    import numpy as np

    from robot_dog.station.frame_scaling import jpeg_size

    ok, data = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))
    frame = data.tobytes()
    with page(station, login(station)) as ws:
        receive_until(ws, is_type("hello"))
        ws.send(json.dumps({"type": "watch", "tiles": [
            {"id": "thumb", "dog": "dog1", "camera": "bodycam", "width": 300, "fps": 5},
            {"id": "view", "dog": "dog1", "camera": "bodycam"}]}))
        got: dict[str, list] = {"thumb": [], "view": []}
        start = time.monotonic()
        for n in range(50):                       # 2 s at 25 fps
            station.relay.publish(Frame("dog1", "bodycam", frame, float(n)))
            end = start + (n + 1) * 0.04
            while (left := end - time.monotonic()) > 0:
                try:
                    raw = ws.recv(timeout=left)
                except TimeoutError:
                    break
                if isinstance(raw, bytes):
                    (size,) = struct.unpack(">I", raw[:4])
                    header = json.loads(raw[4:4 + size])
                    got[header["tile"]].append((header, raw[4 + size:]))
        thumbs, views = got["thumb"], got["view"]
        assert all(h["factor"] == 2 and jpeg_size(j) == (320, 240) for h, j in thumbs)
        assert all(h["factor"] == 1 and j == frame for h, j in views)
        assert 5 <= len(thumbs) <= 12, len(thumbs)        # 5 fps over 2 s (+ the first)
        assert len(views) >= 35, len(views)               # nearly every one of the 50
        for bad in ({"width": -1}, {"width": 1.5}, {"width": True}, {"width": 10**6},
                    {"fps": -1}, {"fps": "5"}, {"fps": 1e9}, {"fps": float("nan")}):
            ws.send(json.dumps({"type": "watch", "tiles": [
                {"id": "a", "dog": "dog1", "camera": "bodycam", **bad}]}))
            assert "bad message" in receive_until(ws, is_type("error"))["error"], bad


def test_a_camera_that_starts_after_the_page_opened_is_announced_once(station):
    """The page's `hello` lists the cameras known then; one whose first frame comes later is
    pushed as a `camera` message (the console subscribes its tile), once."""
    station.relay.publish(Frame("dog1", "bodycam", JPEG, 1.0))
    with page(station, login(station)) as ws:
        receive_until(ws, is_type("hello"))
        for n in range(3):
            station.relay.publish(Frame("dog1", "bodycam", JPEG, 2.0 + n))   # known: no message
            station.relay.publish(Frame("dog2", "front", JPEG, 2.0 + n))
        station.row(StatusRow("dog2", "online", time.time()))   # after the frames, on the loop
        seen: list[dict] = []
        receive_until(ws, lambda m: isinstance(m, dict) and (
            m.get("type") != "camera" or not seen.append(m)) and m.get("type") == "status")
        assert seen == [{"type": "camera", "dog": "dog2", "camera": "front"}]


def test_an_officers_page_sees_and_commands_only_the_dogs_paired_to_the_officer(station):
    """An officer (roles.SCOPED_ROLES): the hello's fleet, the pushes, the video tiles and the
    commands reach only the dogs whose pairing code went to the officer; a revoke ends it."""
    command_keys(station.dispatcher.keys_dir.parent, "dog2")
    now = time.time()
    for dog in ("dog1", "dog2"):
        station.storage.put(StatusRow(dog, "online", now))
    station.storage.flush()
    admin = local_admin("test")
    station.accounts.paired(admin, "dog1", "olga")
    cookie, csrf = _login(station, "olga")
    with page(station, cookie) as ws:
        hello = receive_until(ws, is_type("hello"))
        assert [d["dog"] for d in hello["fleet"]] == ["dog1"]
        assert {"watch", "command", "estop"} <= set(hello["actions"])
        for dog in ("dog2", "dog1"):
            station.row(TelemetryRow(dog, now, {"v": 1, "dog": dog, "seq": 1, "ts": now}))
        assert receive_until(ws, is_type("telemetry"))["dog"] == "dog1", "dog2's is not pushed"
        ws.send(json.dumps({"type": "watch", "tiles": [
            {"id": "a", "dog": "dog2", "camera": "bodycam"},
            {"id": "b", "dog": "dog1", "camera": "bodycam"}]}))
        station.relay.publish(Frame("dog2", "bodycam", JPEG, 1.0))
        station.relay.publish(Frame("dog1", "bodycam", JPEG, 2.0))
        header, _ = receive_until(ws, lambda m: isinstance(m, tuple))
        assert header["dog"] == "dog1"
        ws.send(json.dumps({"type": "auth", "csrf": csrf}))
        receive_until(ws, is_type("auth"))
        estop = {"type": "command", "id": "c1", "dog": "dog2", "verb": "estop", "args": {}}
        ws.send(json.dumps(estop))
        assert command_state(ws, "c1")["code"] == "dog_not_paired"
        ws.send(json.dumps({**estop, "id": "c2", "dog": "dog1"}))
        assert command_state(ws, "c2")["state"] == "pending"
        assert json.loads(station.published[-1][1])["issuer"] == "olga"
        station.accounts.unpaired(admin, "dog1")      # the lost phone revoked at the station
        ws.send(json.dumps({**estop, "id": "c3", "dog": "dog1"}))
        assert command_state(ws, "c3")["code"] == "dog_not_paired"
    assert len([t for t, _ in station.published if t.endswith("/cmd/estop")]) == 1
    denied = station.accounts.tables.audit(10, kind="denied", actor="olga")
    assert [e["target"] for e in reversed(denied)] == ["dog2", "dog1"]


def command_state(ws, ident: str) -> dict:
    return receive_until(ws, lambda m: isinstance(m, dict) and m.get("type") == "command_state"
                         and m["id"] == ident)


def test_a_viewer_watches_and_only_an_operator_commands_after_proving_its_csrf_token(station):
    estop = {"type": "command", "id": "c1", "dog": "dog1", "verb": "estop", "args": {}}
    cookie, csrf = _login(station, "vera")
    with page(station, cookie) as ws:
        receive_until(ws, is_type("hello"))
        ws.send(json.dumps({"type": "auth", "csrf": csrf}))
        assert receive_until(ws, is_type("auth"))["ok"] is True
        ws.send(json.dumps(estop))
        assert command_state(ws, "c1")["code"] == "forbidden", "a viewer may not e-stop"
        ws.send(json.dumps({"type": "ack", "dog": "dog1", "event_id": "evt-00000001"}))
        assert receive_until(ws, is_type("error"))["code"] == "forbidden"
    denied = station.accounts.tables.audit(10, kind="denied", actor="vera")
    assert [e["detail"]["action"] for e in reversed(denied)] == ["estop", "acknowledge"]
    for name in ("otto", "王警官"):
        cookie, csrf = _login(station, name)
        sent_before = len(station.published)
        with page(station, cookie) as ws:
            receive_until(ws, is_type("hello"))
            ws.send(json.dumps(estop))
            assert command_state(ws, "c1")["code"] == "csrf_refused", "no command before auth"
            for wrong in ("", "forged", _login(station, name)[1]):   # another session's token
                ws.send(json.dumps({"type": "auth", "csrf": wrong}))
                assert receive_until(ws, is_type("auth"))["code"] == "csrf_refused"
            assert station.published[sent_before:] == [], \
                "nothing sent without the session's own token"
            ws.send(json.dumps({"type": "auth", "csrf": csrf}))
            assert receive_until(ws, is_type("auth"))["ok"] is True
            ws.send(json.dumps(estop))
            pending = command_state(ws, "c1")
            assert pending["state"] == "pending" and station.published[-1][0].endswith("cmd/estop")
            assert json.loads(station.published[-1][1])["issuer"] == name
            audit = station.accounts.tables.audit(1, kind="command")[0]
            assert (audit["actor"], audit["detail"]["nonce"]) == (name, pending["nonce"])
            station.dispatcher.on_result({"nonce": pending["nonce"], "ok": True, "code": "ok",
                                          "message": "held"}, "dog1")
            done = command_state(ws, "c1")
            assert (done["state"], done["code"]) == ("done", "ok")
            ws.send(json.dumps({**estop, "id": "c2", "dog": "dog9"}))  # no key for dog9
            assert command_state(ws, "c2")["code"] == "not_found"
            ws.send(json.dumps({**estop, "id": "c3", "verb": "siren", "args": {"tone": "x"}}))
            assert command_state(ws, "c3")["code"] == "bad_args", "checked by the registry"
            ws.send(json.dumps({"type": "ack", "dog": "dog1", "event_id": "evt-00000001"}))
            ack = receive_until(ws, is_type("ack"))
            assert (ack["event_id"], ack["acked_by"]) == ("evt-00000001", name)


def test_a_command_to_an_offline_dog_is_refused_at_once_and_the_e_stop_still_goes(
        station, monkeypatch, caplog):
    """dog1's last status is offline. Through the JSON API and the live socket alike: the
    light is refused at once with `dog_offline`, nothing published, the refusal audited and
    logged; the E-STOP is published (a stop is always tried) and, unanswered, ends `timeout`.
    Once dog1 is back online the light goes again."""
    monkeypatch.setattr(live_socket, "WAIT_S", 1.0)
    caplog.set_level(logging.INFO, logger="robot_dog.station")
    went = StatusRow("dog1", "offline", time.time())
    station.storage.put(went)   # what ingest does with dog1's last will
    station.row(went)
    light = {"pattern": "flash"}
    token = station.accounts.create_token(local_admin("test"), "script", "otto").secret

    def api(verb: str, args: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{station.port}/api/dogs/dog1/commands/{verb}?wait=0.5",
            data=json.dumps(args).encode(), method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)

    status, body = api("police_light", light)
    assert (status, body["code"]) == (409, "dog_offline"), body
    assert station.published == [], "nothing sent to the offline dog"
    status, body = api("estop", {})
    assert (status, body["status"]) == (202, "sent"), "the stop is tried, unanswered"
    assert [t for t, _ in station.published] == ["patrol/v1/dog1/cmd/estop"]

    cookie, csrf = _login(station, "otto")
    with page(station, cookie) as ws:
        receive_until(ws, is_type("hello"))
        ws.send(json.dumps({"type": "auth", "csrf": csrf}))
        receive_until(ws, is_type("auth"))
        ws.send(json.dumps({"type": "command", "id": "c1", "dog": "dog1",
                            "verb": "police_light", "args": light}))
        refused = command_state(ws, "c1")
        assert (refused["state"], refused["code"]) == ("refused", "dog_offline")
        assert len(station.published) == 1
        ws.send(json.dumps({"type": "command", "id": "c2", "dog": "dog1", "verb": "estop",
                            "args": {}}))
        assert command_state(ws, "c2")["state"] == "pending"
        assert command_state(ws, "c2")["state"] == "timeout"
        assert [t for t, _ in station.published][1:] == ["patrol/v1/dog1/cmd/estop"]

    audit = station.accounts.tables.audit(20, kind="command", actor="otto")
    assert [(e["detail"]["verb"], e["ok"], e["detail"].get("reason")) for e in reversed(audit)] \
        == [("police_light", False, "dog_offline"), ("estop", True, None),
            ("police_light", False, "dog_offline"), ("estop", True, None)]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("police_light -> dog1 by otto refused: dog_offline" in x for x in lines) == 2
    assert sum("estop -> dog1 by otto: sent although dog1 is offline" in x for x in lines) == 2

    back = StatusRow("dog1", "online", time.time())
    station.storage.put(back)
    station.row(back)
    assert api("police_light", light)[0] == 202, "back online: sent"


def test_a_page_whose_session_ends_stops_commanding_and_is_closed(station, monkeypatch):
    monkeypatch.setattr(live_socket, "SESSION_CHECK_S", 0.2)
    cookie, csrf = _login(station, "otto")
    with page(station, cookie) as ws:
        receive_until(ws, is_type("hello"))
        ws.send(json.dumps({"type": "auth", "csrf": csrf}))
        receive_until(ws, is_type("auth"))
        station.accounts.set_disabled(local_admin("test"), "otto")
        ws.send(json.dumps({"type": "command", "id": "c1", "dog": "dog1", "verb": "estop",
                            "args": {}}))
        assert command_state(ws, "c1")["code"] == "not_authenticated"
        assert receive_until(ws, is_type("session_ended"))["code"] == "not_authenticated"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd.code == live_socket.SESSION_ENDED
    assert station.published == []


def test_a_listening_page_gets_the_dogs_microphone_on_its_socket(station):
    """The dog's Opus, decoded by the station, pushed as binary audio messages while the page
    listens (no polling); a page that may not (a bad name) is told why."""
    import numpy as np

    from robot_dog.audio import opus
    from robot_dog.audio.pcm import FRAME_SAMPLES
    from tests.test_audio_opus import tone

    encoder = opus.OpusEncoder()
    voice = tone(440.0, 2.0).astype(np.int16)
    frames = iter(range(0, voice.size - FRAME_SAMPLES, FRAME_SAMPLES))

    def speak(n: int) -> None:   # the dog's mic/audio messages, as ingest hands them over
        for _ in range(n):
            at = next(frames)
            for packet in encoder.encode(voice[at:at + FRAME_SAMPLES]):
                station.talk.on_mic("dog1", opus.pack(opus.VoicePacket(at // FRAME_SAMPLES, 0, packet)))

    with page(station, login(station, "vera")) as ws:   # a viewer may listen
        receive_until(ws, is_type("hello"))
        ws.send(json.dumps({"type": "listen", "dog": "../x"}))
        assert "bad message" in receive_until(ws, is_type("error"))["error"]
        ws.send(json.dumps({"type": "listen", "dog": "dog1"}))
        heard = None
        while heard is None:   # from now on: what the dog says once the page listens
            speak(5)
            try:
                heard = receive_until(ws, lambda m: isinstance(m, tuple)
                                      and m[0].get("kind") == "audio", timeout_s=1.0)
            except TimeoutError:
                continue
        header, pcm = heard
        assert (header["dog"], header["rate"]) == ("dog1", 48_000)
        assert len(pcm) > 0 and len(pcm) % 2 == 0 and header["cursor"] > 0
        ws.send(json.dumps({"type": "listen", "dog": None}))


def test_a_page_that_never_reads_is_cut_off_and_other_viewers_keep_their_video(station):
    """A raw client opens the socket, asks for a live camera of big frames and never reads.
    The station writes one message at a time to it (newest frame wins, nothing queues), and
    its write deadline ends the connection; another page keeps getting every newest frame,
    before and after."""
    cookie = login(station)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", station.port))
    stalled.sendall((f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{station.port}\r\n"
                     f"Origin: http://127.0.0.1:{station.port}\r\nCookie: {cookie}\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    watch = json.dumps({"type": "watch", "tiles": [{"id": "a", "dog": "dog1",
                                                     "camera": "bodycam"}]}).encode()
    mask = b"\x01\x02\x03\x04"
    answer = b""
    while b"\r\n\r\n" not in answer:  # a client sends frames once the upgrade is answered
        answer += stalled.recv(1)
    assert answer.startswith(b"HTTP/1.1 101")
    assert len(watch) < 126  # one-byte length
    stalled.sendall(bytes([0x81, 0x80 | len(watch)]) + mask
                    + bytes(b ^ mask[i % 4] for i, b in enumerate(watch)))
    running = threading.Event()
    running.set()
    big = b"\xff\xd8" + bytes(128 * 1024) + b"\xff\xd9"

    def camera() -> None:
        n = 0
        while running.is_set():
            n += 1
            station.relay.publish(Frame("dog1", "bodycam", big, float(n)))
            time.sleep(0.1)

    feeder = threading.Thread(target=camera, daemon=True)
    feeder.start()
    try:
        with page(station, cookie) as ws:
            receive_until(ws, is_type("hello"))
            ws.send(watch.decode())   # a text message, as the page sends it
            frames: list[float] = []
            arrivals: list[float] = []   # when the good page got each frame (monotonic s)
            after_cut = 0
            end = time.monotonic() + 120
            while after_cut < 20:   # the good page reads all the time
                assert time.monotonic() < end, (station.guard_counters, len(frames))
                raw = ws.recv(timeout=60)
                if isinstance(raw, bytes):
                    (size,) = struct.unpack(">I", raw[:4])
                    frames.append(json.loads(raw[4:4 + size])["received"])
                    arrivals.append(time.monotonic())
                    after_cut += station.guard_counters.stalled >= 1
            assert station.guard_counters.stalled == 1, "only the page that never reads"
            assert frames == sorted(frames), "newest first, never an older frame after a newer"
            # Not slowed either: the stalled page's sender waits up to WRITE_TIMEOUT_S (10 s)
            # on its own; had it held the loop, the good page would have gone that long without
            # a frame. The camera sends one every 0.1 s.
            gap = max(b - a for a, b in zip(arrivals, arrivals[1:]))
            assert gap < 3.0 < web.WRITE_TIMEOUT_S, f"the good page waited {gap:.1f} s for a frame"
            assert len(arrivals) - after_cut >= 20, "frames went on during the stall"
    finally:
        running.clear()
        feeder.join(timeout=10)
        stalled.close()


def test_pages_beyond_the_socket_cap_are_refused_and_the_e_stop_still_goes(station,
                                                                           monkeypatch):
    cookie = login(station)
    with contextlib.ExitStack() as pages:
        for _ in range(web.MAX_SOCKETS):
            pages.enter_context(page(station, cookie))
        with pytest.raises(InvalidStatus) as refused:
            page(station, cookie)
        assert refused.value.response.status_code == 503
        token = station.accounts.create_token(local_admin("test"), "script", "otto").secret
        req = urllib.request.Request(
            f"http://127.0.0.1:{station.port}/api/dogs/dog1/commands/estop?wait=0", data=b"{}",
            method="POST", headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as reply:
            assert reply.status == 202
