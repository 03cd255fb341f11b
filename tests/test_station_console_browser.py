"""The station console in a real headless Chromium against a real station web server: two dogs
with live video over the page's one WebSocket, a dog's glass break that arrives as a critical
alarm (the station's alarm policy), sounds until it is acknowledged (stored: who and when),
e-stop and release from the page (signed and sent; the banner follows the dog's reported
state), a dog that stops sending raises the station's own offline alarm, acknowledged too, and
shows NO SIGNAL with its buttons disabled and the reason, a Mandarin announcement, the page in
Chinese (the dog's own words too: its driving input, payload, verbs and their arguments;
24-hour chart axes), the dog view on a 1366x768 station PC and a 1920x1080 wall display; no
console error and no CSP violation on the way. The screenshots in docs/ come from here.

The dogs are played in-process the way ingest hands their messages to the web server
(`Ingest.handle` for the event, `StationHttp.row`, the relay): the MQTT path in front of it has
its own tests.
"""
from __future__ import annotations

import base64
import json
import os
import re
import tarfile
import threading
import time
from pathlib import Path

import pytest

from robot_dog.mqtt import signing
from robot_dog.station.accounts import local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame, Ingest
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import EventRow, StatusRow, Storage, TelemetryRow
from robot_dog.station.talk import TalkRelay
from robot_dog.station.web import StationHttp
from robot_dog.uplink.events import EventFactory
from tests.fixtures.command_keys import command_keys
from tests.support import wait_for
from tests.test_station_evidence import uploaded  # noqa: F401  (module fixture: dog1's recording)

PASSWORD = "correct horse battery"
OPERATOR = "王警官"        # account names in any script
DOCS = Path(__file__).resolve().parents[1] / "docs" / "img"
TIMEOUT_MS = 60_000
#: The station's link watch gives up on a silent dog after this long once dog2 is to stop (15 s
#: in service; set only then, so a busy machine's hiccup earlier raises nothing).
SILENT_AFTER_S = 3.0


def jpeg(colour: tuple[int, int, int], label: str) -> bytes:
    import cv2
    import numpy as np

    image = np.full((240, 320, 3), colour, np.uint8)
    cv2.putText(image, label, (20, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


class Dogs:
    """Two dogs as the station sees them: status, telemetry at 5 Hz, video at 5 fps."""

    def __init__(self, station: StationHttp) -> None:
        self.station = station
        self.live = {"dog1": True, "dog2": True}
        self.estop = {"dog1": "", "dog2": ""}
        self.frames = {"dog1": jpeg((120, 60, 20), "dog1"), "dog2": jpeg((20, 90, 40), "dog2")}
        self.running = True
        self.seq = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def row(self, row) -> None:
        self.station.storage.put(row)
        self.station.row(row)

    def _run(self) -> None:
        while self.running:
            self.seq += 1
            now = time.time()
            for n, dog in enumerate(("dog1", "dog2")):
                if not self.live[dog]:
                    continue
                self.station.relay.publish(Frame(dog, "bodycam", self.frames[dog], now))
                self.row(TelemetryRow(dog, now, {
                    "v": 1, "dog": dog, "ts": now, "seq": self.seq,
                    "pose": {"frame": "map", "x": 0.1 * self.seq, "y": n + 0.05 * self.seq,
                             "z": 0.0, "yaw": 0.0},
                    "velocity": {"vx": 0.5, "vy": 0.0, "wz": 0.0},
                    "battery": {"percentage": 0.82 if dog == "dog1" else 0.12,
                                "temperature_c": 31.0 + (self.seq % 10) / 10},
                    "payload": {"police_light": {"pattern": "flash", "on": True},
                                "siren": {"tone": "off"}, "bodycam": {"recording": True}},
                    "safety": {"estop": bool(self.estop[dog]), "estop_reason": self.estop[dog],
                               "active_input": "patrol"},
                    "link": {"connected": True, "rtt_ms": 40.0}}))
            time.sleep(0.2)


@pytest.fixture
def console(tmp_path):
    keys = command_keys(tmp_path, "dog1", "dog2")
    storage = Storage(tmp_path / "s.db")
    published: list[tuple[str, dict]] = []
    dispatcher = Dispatcher(keys.dir, lambda topic, payload, qos: published.append(
        (topic, json.loads(payload))) or 0, storage)
    talk = TalkRelay(lambda topic, payload, qos, expiry: None, lambda: 0)
    station = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher, talk=talk).start()
    station.published = published
    for name, role in ((OPERATOR, "operator"), ("vera", "viewer")):
        station.accounts.add_account(local_admin("test"), name, role, PASSWORD)
    dogs = Dogs(station)
    for dog in ("dog1", "dog2"):
        dogs.row(StatusRow(dog, "online", time.time()))
    storage.flush()
    dogs.thread.start()
    yield station, dogs
    dogs.running = False
    dogs.thread.join(timeout=10)
    station.stop()
    storage.close()


def log_in(page, name: str, password: str = PASSWORD) -> None:
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-button")


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning")
            and "station:" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def answer(station, verb: str, ok: bool = True, code: str = "refused") -> dict:
    """The dog's answer to the newest `verb` command sent (as its signed result would be)."""
    topic, doc = next((t, d) for t, d in reversed(station.published)
                      if t.endswith(f"/cmd/{verb}"))
    station.dispatcher.on_result({"nonce": doc["nonce"], "ok": ok, "code": "ok" if ok else code,
                                  "message": ""}, doc["dog"])
    return doc


def inside_viewport(page, selector: str) -> None:
    """The element's whole box is on the screen (no scrolling needed to see it)."""
    size = page.viewport_size
    # found and measured in one script: the page redraws some of these (the payload list) several
    # times a second, so a handle found first may be gone when it is measured
    box = page.evaluate("s => { const r = document.querySelector(s).getBoundingClientRect(); "
                        "return {x: r.x, y: r.y, width: r.width, height: r.height}; }", selector)
    assert box["width"] > 0 and box["height"] > 0, (selector, box)
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] \
        and box["y"] + box["height"] <= size["height"], (selector, box, size)


def shot(page, name: str) -> None:
    """A PNG of the page (through CDP: Playwright's own screenshot waits for web fonts, which
    a page with none and a busy machine can make it wait out), taken on every run; written to
    docs/img only with ROBOT_DOG_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean."""
    cdp = page.context.new_cdp_session(page)
    data = base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png"})["data"])
    cdp.detach()
    assert data.startswith(b"\x89PNG"), name
    if os.environ.get("ROBOT_DOG_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        (DOCS / name).write_bytes(data)


@pytest.mark.timeout(300)
def test_the_console_as_station_staff_use_it(console, browser_page):
    station, dogs = console
    page = browser_page
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, OPERATOR)
    page.wait_for_selector(f"#session #who >> text={OPERATOR}", timeout=TIMEOUT_MS)
    assert page.inner_text("#role") == "operator"

    # two dogs with live video on the wall
    for dog in ("dog1", "dog2"):
        page.wait_for_function(f"() => document.querySelector('.tile[data-dog={dog}] .video')"
                               "?.naturalWidth === 320", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('.tile[data-dog=dog2] .battery')"
                           "?.classList.contains('low')", timeout=TIMEOUT_MS)
    assert page.inner_text(".tile[data-dog=dog1] .banner") == "online"

    # a glass break arrives as a dog sends it (older dog software called it a warning): the
    # station's alarm policy makes it critical; its text is data, never markup; it sounds
    # again and again until it is acknowledged
    event = EventFactory("dog1").make(time.time(), "sound", "warning",
                                      "glass break <img src=x onerror=alert(1)>",
                                      {"class": "glass_break", "level_dbfs": -4.0})
    (row,), _ = Ingest().handle("patrol/v1/dog1/events", json.dumps(event).encode(), time.time())
    dogs.row(row)
    alarm = f"#alarm-list li[data-event='{event['id']}']"
    page.wait_for_selector(f"{alarm}.sev-critical", timeout=TIMEOUT_MS)
    # shown as the sound's class from the catalogue; the dog's message kept as data (the title)
    assert page.inner_text(f"{alarm} .what") == "sound: glass break"
    assert "<img src=x onerror=alert(1)>" in page.get_attribute(f"{alarm} .what", "title")
    assert page.query_selector("#alarm-list img") is None
    page.wait_for_function("() => document.title.startsWith('(1) ')", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#alarm-sound').dataset.state === 'ringing'"
                           " && Number(document.querySelector('#alarm-sound').dataset.beeps) >= 2",
                           timeout=TIMEOUT_MS)
    shot(page, "console-overview-en.png")
    page.click(f"{alarm} button.ack")
    page.wait_for_selector(f"{alarm}.acked", timeout=TIMEOUT_MS)
    assert OPERATOR in page.inner_text(f"{alarm} .ackedby")
    page.wait_for_function("() => !document.title.startsWith('(')", timeout=TIMEOUT_MS)
    page.wait_for_selector("#alarm-sound[data-state=quiet]", timeout=TIMEOUT_MS)
    beeps = page.get_attribute("#alarm-sound", "data-beeps")
    wait_for(lambda: station.storage.alarms(10, "dog1")[0]["acked_by"] == OPERATOR,
             "the acknowledgement stored", timeout_s=30)

    # e-stop from the tile: signed and sent; the banner follows what the dog reports
    page.click(".tile[data-dog=dog1] button[data-verb=estop]")
    wait_for(lambda: any(t.endswith("dog1/cmd/estop") for t, _ in station.published),
             "the e-stop sent to dog1", timeout_s=30)
    page.wait_for_selector(".tile[data-dog=dog1] .result[data-state=pending]", timeout=TIMEOUT_MS)
    sent = answer(station, "estop")
    assert sent["issuer"] == OPERATOR
    page.wait_for_selector(".tile[data-dog=dog1] .result[data-state=done]", timeout=TIMEOUT_MS)
    dogs.estop["dog1"] = f"e-stop from the station console by {OPERATOR}"
    page.wait_for_selector(".tile[data-dog=dog1].estopped", timeout=TIMEOUT_MS)
    assert OPERATOR in page.inner_text(".tile[data-dog=dog1] .estop")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".tile[data-dog=dog1] button[data-verb=estop_release]")
    wait_for(lambda: any(t.endswith("dog1/cmd/estop_release") for t, _ in station.published),
             "the release sent", timeout_s=30)
    answer(station, "estop_release")
    dogs.estop["dog1"] = ""
    page.wait_for_selector(".tile[data-dog=dog1]:not(.estopped)", timeout=TIMEOUT_MS)

    assert page.get_attribute("#alarm-sound", "data-beeps") == beeps, "silent once acknowledged"

    # dog2's stack stops sending: the station raises its own critical offline alarm (sticky,
    # sounding, in the title), which is acknowledged; the broker's Last Will that follows
    # raises no second one
    station.link_watch.silent_after_s = SILENT_AFTER_S
    dogs.live["dog2"] = False
    offline = "#alarm-list li[data-dog=dog2][data-type=offline]"
    page.wait_for_selector(f"{offline}.sev-critical:not(.acked)", timeout=TIMEOUT_MS)
    assert page.inner_text(f"{offline} .what").startswith("offline: nothing heard for ")
    page.wait_for_function("() => document.title.startsWith('(1) ')", timeout=TIMEOUT_MS)
    page.wait_for_selector("#alarm-sound[data-state=ringing]", timeout=TIMEOUT_MS)
    page.click("#alarm-sound")                         # muted on this page, still listed
    page.wait_for_selector("#alarm-sound[data-state=muted]", timeout=TIMEOUT_MS)
    page.click("#alarm-sound")
    page.wait_for_selector("#alarm-sound[data-state=ringing]", timeout=TIMEOUT_MS)
    page.click(f"{offline} button.ack")
    page.wait_for_selector(f"{offline}.acked", timeout=TIMEOUT_MS)
    page.wait_for_function("() => !document.title.startsWith('(')", timeout=TIMEOUT_MS)
    stored = wait_for(lambda: next((a for a in station.storage.alarms(10, "dog2")
                                    if a["type"] == "offline" and a["acked_by"]), None),
                      "the offline alarm's acknowledgement stored", timeout_s=30)
    assert (stored["severity"], stored["origin"], stored["acked_by"]) == (
        "critical", "station", OPERATOR)
    dogs.row(StatusRow("dog2", "offline", time.time()))

    # NO SIGNAL over its greyed last frame, its buttons disabled with why
    page.wait_for_selector(".tile[data-dog=dog2].stale .nosignal:not([hidden])",
                           timeout=TIMEOUT_MS)
    assert page.inner_text(".tile[data-dog=dog2] .nosignal").startswith("NO SIGNAL, last frame ")
    assert page.inner_text(".tile[data-dog=dog2] .banner") == "offline"
    for button in page.query_selector_all(".tile[data-dog=dog2] button[data-verb]"):
        assert button.is_disabled() and "offline" in button.get_attribute("title")

    # the dog view: large video with its age, map, charts; a Mandarin announcement, done
    page.click(".tile[data-dog=dog1] .frame")
    page.wait_for_function("() => document.querySelector('#dogview .video')?.naturalWidth === 320",
                           timeout=TIMEOUT_MS)
    assert page.query_selector("#verbs button[data-verb=siren]"), "verbs from GET /api/verbs"
    assert page.is_visible("#listen") and page.is_visible("#talk"), "an operator's audio controls"
    page.fill("#announce-text", "请注意，这里是警察巡逻。")
    page.select_option("#announce-lang", "cmn")
    page.click("#announce-send")
    wait_for(lambda: any(t.endswith("dog1/cmd/announce") for t, _ in station.published),
             "the announcement sent", timeout_s=30)
    sent = answer(station, "announce")
    assert sent["args"]["text"] == "请注意，这里是警察巡逻。" and sent["args"]["language"] == "cmn"
    page.wait_for_selector("#cmdlog li[data-verb=announce][data-state=done]", timeout=TIMEOUT_MS)
    assert "Announce: done" in page.inner_text("#cmdlog li[data-verb=announce]"), "the verb's label"
    # listen-in the dog refuses: its reason in the page's words, the button not left pressed
    page.click("#listen")
    wait_for(lambda: any(t.endswith("dog1/cmd/listen") for t, _ in station.published),
             "the listen-in window asked for", timeout_s=30)
    answer(station, "listen", ok=False, code="payload_safe")
    page.wait_for_function("() => document.querySelector('#audio-state').textContent"
                           " === 'listen: refused: payload in its safe state'", timeout=TIMEOUT_MS)
    assert page.get_attribute("#listen", "aria-pressed") == "false"
    page.wait_for_selector("#map .leaflet-interactive", timeout=TIMEOUT_MS)
    # 24-hour time on the charts' axis (uPlot's own would be "2:07pm" under a US date)
    labels = page.wait_for_function(
        "() => document.querySelector('#charts [data-chart=chart_battery] .uplot')?.dataset.xLabels",
        timeout=TIMEOUT_MS).json_value()
    assert re.fullmatch(r"\d\d:\d\d(:\d\d)?( \d\d:\d\d(:\d\d)?)*", labels), labels

    # a station PC (1366x768): the view scrolls, the E-STOP stays in sight
    page.eval_on_selector("main", "m => { m.scrollTop = m.scrollHeight; }")
    assert page.eval_on_selector("main", "m => m.scrollTop") > 0, "the dog view scrolls at 768 px"
    inside_viewport(page, "#estop")
    page.eval_on_selector("main", "m => { m.scrollTop = 0; }")
    # a wall display (1920x1080): video, map, payload, commands and the E-STOP without scrolling
    page.set_viewport_size({"width": 1920, "height": 1080})
    for selector in ("#estop", "#map", "#dogview .frame.big", "#payload li[data-device=police_light]",
                     "#verbs button[data-verb=police_light]", "#charts [data-chart=chart_battery]"):
        inside_viewport(page, selector)
    shot(page, "console-dog-view-en.png")

    # Chinese, from the one catalogue
    page.select_option("#lang", "zh")
    # the banner is redrawn in the new language on the page's next render (a live push)
    page.wait_for_function("() => document.querySelector('#dogview .banner')?.textContent === '在线'",
                           timeout=TIMEOUT_MS)
    # what is built from data follows too: the role badge, the driving input, the payload, the
    # verbs' arguments and choices, the charts' titles, the command log's verb
    assert page.inner_text("#role") == "操作员"
    assert page.inner_text("#dogview .driver") == "控制方：巡逻"
    assert page.inner_text("#payload li[data-device=police_light]").startswith("警灯：模式 闪烁")
    assert "警灯 闪烁" in page.inner_text("#dogview .payload")
    box = "#verbs [data-verb-box=police_light]"
    assert page.inner_text(f"{box} [data-arg-label=pattern]") == "模式"
    assert page.eval_on_selector(f"{box} select[data-arg=pattern] option[value=flash]", "o => o.textContent") == "闪烁"
    assert page.inner_text("#verbs button[data-verb=revoke_handheld]") == "吊销手持终端"
    assert page.inner_text("#charts [data-chart=chart_battery] .chart-title") == "电量 %"
    assert page.inner_text("#audio-state") == "监听：被拒绝：载荷处于安全状态"
    assert "温度 °C" in page.inner_text("#charts [data-chart=chart_temperature] .chart-title")
    page.click("#verbs button[data-verb=siren]")
    wait_for(lambda: any(t.endswith("dog1/cmd/siren") for t, _ in station.published),
             "the siren command sent", timeout_s=30)
    answer(station, "siren")
    page.wait_for_selector("#cmdlog li[data-verb=siren][data-state=done]", timeout=TIMEOUT_MS)
    assert "警笛：已完成" in page.inner_text("#cmdlog li[data-verb=siren]")
    page.click("#back")
    page.wait_for_function("() => document.querySelector('.tile[data-dog=dog2] .nosignal')"
                           "?.textContent.startsWith('无信号')", timeout=TIMEOUT_MS)
    assert page.inner_text("#bar h1") == "巡逻站"
    shot(page, "console-overview-zh.png")
    assert len(page.query_selector_all(offline)) == 1, "one alarm for one outage"
    assert errors == [], errors


@pytest.mark.timeout(120)
def test_an_acknowledgement_while_the_live_connection_is_down_goes_by_http(console, browser_page):
    """Acknowledge clicked while the page's live connection is down (the station restarting, a
    proxy cutting it) is not lost: the page sends it by HTTP, the station stores who, and the
    alarm shows acknowledged once the connection is back (its hello lists the alarms anew)."""
    station, dogs = console
    page = browser_page
    errors = watch_errors(page)
    down = threading.Event()
    routes: list = []

    def live(route) -> None:          # every /api/live connection of the page passes here
        if down.is_set():
            route.close()             # the station out of reach: the page keeps retrying
            return
        routes.append(route)
        route.connect_to_server()

    page.route_web_socket(re.compile(r".*/api/live$"), live)
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, OPERATOR)
    event = EventFactory("dog1").make(time.time(), "estop", "critical", "e-stop engaged",
                                      {"engaged": True})
    (row,), _ = Ingest().handle("patrol/v1/dog1/events", json.dumps(event).encode(), time.time())
    dogs.row(row)
    alarm = f"#alarm-list li[data-event='{event['id']}']"
    page.wait_for_selector(f"{alarm}.sev-critical:not(.acked)", timeout=TIMEOUT_MS)

    down.set()
    for route in routes:
        route.close()
    page.wait_for_selector("#live-lost:not([hidden])", timeout=TIMEOUT_MS)
    page.click(f"{alarm} button.ack")
    wait_for(lambda: any(a["id"] == event["id"] and a["acked_by"] == OPERATOR
                         for a in station.storage.alarms(10, "dog1")),
             "the acknowledgement stored (by HTTP)", timeout_s=30)
    assert not page.query_selector(f"{alarm}.acked"), "shown only once the station says so"
    down.clear()
    page.wait_for_selector("#live-lost", state="hidden", timeout=TIMEOUT_MS)
    page.wait_for_selector(f"{alarm}.acked", timeout=TIMEOUT_MS)
    assert OPERATOR in page.inner_text(f"{alarm} .ackedby")
    assert errors == [], errors


def test_chinese_by_default_when_the_browser_asks_and_every_page_under_its_policy(
        console, browser_page):
    station, _dogs = console
    context = browser_page.context.browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"http://127.0.0.1:{station.port}/")
    assert page.inner_text("#bar h1") == "巡逻站"
    assert page.inner_text("#login-button") == "登录"
    log_in(page, "bob", "wrong password")
    page.wait_for_function("() => document.querySelector('#login-error').textContent.includes("
                           "'账号或密码错误')", timeout=TIMEOUT_MS)
    # four more wrong passwords lock the account: said in Chinese with the station's wait
    # (Retry-After), not in the station's English detail
    for attempt in range(4):
        page.evaluate("() => { document.querySelector('#login-error').textContent = ''; }")
        log_in(page, "bob", f"wrong password {attempt}")
        page.wait_for_function("() => document.querySelector('#login-error').textContent",
                               timeout=TIMEOUT_MS)
    log_in(page, "bob", PASSWORD)       # even the right one, while locked out
    page.wait_for_function("() => document.querySelector('#login-error').textContent"
                           ".startsWith('登录失败次数过多：请 ')", timeout=TIMEOUT_MS)
    assert re.fullmatch(r"登录失败次数过多：请 \d+ 秒后再试。", page.inner_text("#login-error"))
    assert page.is_visible("#login")
    context.close()
    assert errors == [e for e in errors if re.search("401|429", e)], errors  # refused logins' lines


@pytest.mark.timeout(120)
def test_a_viewer_sees_the_fleet_without_controls_and_logs_out(console, browser_page):
    """A viewer's wall hides the e-stop buttons and the dog view shows its commands disabled
    with the role's reason (the station refuses them anyway: test_station_live.py); logging
    out ends the session on the station too."""
    station, _dogs = console
    page = browser_page
    errors = watch_errors(page)
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, "vera")
    page.wait_for_function("() => document.querySelector('.tile[data-dog=dog1] .video')"
                           "?.naturalWidth === 320", timeout=TIMEOUT_MS)
    assert page.inner_text("#role") == "viewer"
    dogs_event = {"v": 1, "dog": "dog1", "ts": time.time(), "id": "evt-00000043",
                  "type": "sound", "severity": "critical", "message": "shout"}
    _dogs.row(EventRow("dog1", time.time(), dogs_event))
    page.wait_for_selector("#alarm-list li[data-event=evt-00000043]", timeout=TIMEOUT_MS)
    assert page.query_selector("#alarm-list li[data-event=evt-00000043] button.ack") is None
    for button in page.query_selector_all(".tile button[data-verb]"):
        assert not button.is_visible(), "no command control for a viewer"
    page.click(".tile[data-dog=dog1] .frame")
    page.wait_for_selector("#dogview:not([hidden])", timeout=TIMEOUT_MS)
    # the dog view's commands are shown disabled with the reason, not hidden
    reason = "disabled: not allowed for the role viewer"
    page.wait_for_function(f"() => document.querySelector('#verbs button[data-verb=siren]')?.title === '{reason}'",
                           timeout=TIMEOUT_MS)
    for button in page.query_selector_all("#verbs button[data-verb], #announce-send"):
        assert button.is_visible() and button.is_disabled() and button.get_attribute("title") == reason
    assert not page.is_visible("#talk"), "no push-to-talk for a viewer"
    page.click("#back")
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)
    assert station.accounts.tables.audit(1, kind="logout")[0]["actor"] == "vera"
    page.reload()
    page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)
    assert page.is_hidden("#main"), "the cookie's session is over: a reload shows the login"
    assert errors == [], errors


@pytest.fixture
def evidence_station(uploaded):
    """A station holding dog1's verified recording (test_station_evidence.uploaded: a real
    recorder's segments uploaded through the cores), with an admin and a viewer."""
    storage, objects, key, _ = uploaded
    storage.put(StatusRow("dog1", "online", time.time()))
    storage.flush()
    station = StationHttp(storage, FrameRelay(), port=0, evidence=(
        objects, lambda dog: signing.public_pem(key.public_key()))).start()
    for name, role in (("ada", "admin"), ("vera", "viewer")):
        if station.accounts.tables.account(name) is None:
            station.accounts.add_account(local_admin("test"), name, role, PASSWORD)
    yield station
    station.stop()


@pytest.mark.timeout(180)
def test_the_evidence_of_a_dog_plays_and_an_admin_exports_it(evidence_station, browser_page,
                                                              tmp_path):
    station = evidence_station
    recording = station.storage.evidence_recordings("dog1")[0]["recording"]
    page = browser_page
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, "ada")
    page.click(".tile[data-dog=dog1] .frame", timeout=TIMEOUT_MS)
    entry = f"#evidence li[data-recording='{recording}']"
    page.wait_for_selector(f"{entry}[data-state=verified]", timeout=TIMEOUT_MS)
    assert "verified" in page.inner_text(entry) and "officer 3" in page.inner_text(entry)
    first = f"{entry} .items li[data-state=verified]"
    page.click(f"{first} button.play")
    duration = page.wait_for_function(
        f"() => {{ const v = document.querySelector(\"{first} video.media\"); "
        "return v && v.readyState >= 1 && v.duration; }", timeout=TIMEOUT_MS).json_value()
    assert duration > 0.5, "a verified segment plays through the range route"
    page.eval_on_selector("#evidence", "e => e.scrollIntoView()")
    shot(page, "console-evidence-en.png")
    page.check(f"{entry} input.pick")
    page.fill("#evidence .export-form .reason", "case 2026-114, glass break")
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#evidence button.export")
    saved = tmp_path / "case.tar"
    download.value.save_as(saved)
    with tarfile.open(saved) as tar:
        assert any(name.endswith(".mp4") for name in tar.getnames())
    exported = station.accounts.tables.audit(1, kind="evidence_export")[0]
    assert (exported["actor"], exported["detail"]["reason"]) == ("ada", "case 2026-114, glass break")

    # the admin's people panel: the audit log filtered by kind; an API token made and revoked
    page.click("#people-button")
    page.fill("#people .audit-filter input[name=kind]", "evidence_export")
    page.click("#people .audit-filter button")
    page.wait_for_selector("#people .audit-log tr[data-kind=evidence_export]", timeout=TIMEOUT_MS)
    assert page.query_selector("#people .audit-log tr:not([data-kind=evidence_export])") is None
    page.fill("#people .tokens .label", "nightly export script")
    page.click("#people .tokens .create")
    page.wait_for_function("() => document.querySelector('#people .tokens .secret')"
                           "?.textContent.includes('rdt_')", timeout=TIMEOUT_MS)
    shown = page.inner_text("#people .tokens .secret")
    assert station.accounts.is_token(shown.rsplit(" ", 1)[1]), "the secret, shown once"
    page.click("#people .token-list li button.revoke")
    page.wait_for_selector("#people .token-list li .revoked", timeout=TIMEOUT_MS)
    assert station.accounts.tables.audit(1, kind="token_revoked")[0]["actor"] == "ada"
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)
    log_in(page, "vera")   # a viewer watches the evidence, exports nothing
    page.click(".tile[data-dog=dog1] .frame", timeout=TIMEOUT_MS)
    page.wait_for_selector(f"{entry}[data-state=verified]", timeout=TIMEOUT_MS)
    assert page.query_selector("#evidence .export-form") is None
    assert page.query_selector(f"{entry} input.pick") is None
    assert errors == [], errors
