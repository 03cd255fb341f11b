"""The console's page behaviours in a real headless Chromium against a real station web server,
beside tests/test_station_console_browser.py (same way of playing the dogs): the wall of 1, 4 or
9 tiles (how many are shown, in how many columns, how wide), the dog that needs attention first
(an e-stopped dog's tile, then an offline dog's, ahead of the alphabet and on a 1-tile wall),
a command's refused and timeout states in the dog view with the refusal code's words in the
page's language (the dog's detail kept on the line as data), the alarm queue's words for an
event's type and its deciding fact and for the station's own alarms, in Chinese; and the admin's
audit log paged back and filtered by target, kind and time.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from robot_dog.station import live_socket
from robot_dog.station.accounts import local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame, Ingest
from robot_dog.station.ingest_limits import CRITICAL_EVENTS, LIMITS, shed_notice
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import EventRow, StatusRow, Storage, TelemetryRow
from robot_dog.station.web import StationHttp
from robot_dog.uplink.events import EventFactory
from tests.fixtures.command_keys import command_keys
from tests.support import wait_for
from tests.test_station_console_browser import (  # noqa: F401  (console: a module fixture)
    OPERATOR, PASSWORD, TIMEOUT_MS, console, jpeg, log_in, watch_errors)

DOGS = [f"dog{n}" for n in range(1, 10)]
ADMIN = "ada"


class Wall:
    """Nine dogs as the station sees them: status, telemetry and video at 2 Hz each."""

    def __init__(self, station: StationHttp) -> None:
        self.station = station
        self.live = dict.fromkeys(DOGS, True)
        self.estop = dict.fromkeys(DOGS, "")
        self.frame = jpeg((60, 60, 90), "dog")
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def row(self, row) -> None:
        self.station.storage.put(row)
        self.station.row(row)

    def _run(self) -> None:
        while self.running:
            now = time.time()
            for dog in DOGS:
                if not self.live[dog]:
                    continue
                self.station.relay.publish(Frame(dog, "bodycam", self.frame, now))
                self.row(TelemetryRow(dog, now, {
                    "v": 1, "dog": dog, "ts": now, "battery": {"percentage": 0.8},
                    "safety": {"estop": bool(self.estop[dog]), "estop_reason": self.estop[dog],
                               "active_input": "patrol"}}))
            time.sleep(0.5)


@pytest.fixture
def wall(tmp_path):
    keys = command_keys(tmp_path, *DOGS)
    storage = Storage(tmp_path / "s.db")
    published: list[tuple[str, dict]] = []
    dispatcher = Dispatcher(keys.dir, lambda topic, payload, qos: published.append(
        (topic, json.loads(payload))) or 0, storage)
    station = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher).start()
    station.published = published
    station.accounts.add_account(local_admin("test"), OPERATOR, "operator", PASSWORD)
    dogs = Wall(station)
    for dog in DOGS:
        dogs.row(StatusRow(dog, "online", time.time()))
    storage.flush()
    dogs.thread.start()
    yield station, dogs
    dogs.running = False
    dogs.thread.join(timeout=10)
    station.stop()
    storage.close()


def tiles(page) -> list[dict]:
    """The wall's tiles in order: the dog, where and how wide."""
    return page.eval_on_selector_all(
        "#wall > .tile", "ts => ts.map(t => { const r = t.getBoundingClientRect(); "
        "return {dog: t.dataset.dog, x: Math.round(r.x), y: Math.round(r.y), width: r.width}; })")


def wall_order(page, count: int) -> list[str]:
    return [t["dog"] for t in tiles(page)][:count]


def wait_order(page, want: list[str]) -> None:
    page.wait_for_function(
        "want => [...document.querySelectorAll('#wall > .tile')].slice(0, want.length)"
        ".map(t => t.dataset.dog).join() === want.join()", arg=want, timeout=TIMEOUT_MS)


def check_layout(page, layout: int, columns: int) -> list[dict]:
    page.select_option("#layout", str(layout))
    page.wait_for_function(f"() => document.querySelectorAll('#wall > .tile').length === {layout}",
                           timeout=TIMEOUT_MS)
    shown = tiles(page)
    wall_width = page.eval_on_selector("#wall", "w => w.getBoundingClientRect().width")
    assert len({t["x"] for t in shown}) == columns, (layout, shown)
    assert len({t["y"] for t in shown}) == layout // columns, (layout, shown)
    gap = 8   # console.css #wall gap
    for t in shown:
        assert t["width"] == pytest.approx((wall_width - gap * (columns - 1)) / columns, abs=2), \
            (layout, t, wall_width)
    return shown


def refuse(station, verb: str, code: str, message: str) -> None:
    """The dog's signed answer to the newest `verb` command sent: refused with `code`."""
    _topic, doc = next((t, d) for t, d in reversed(station.published) if t.endswith(f"/cmd/{verb}"))
    station.dispatcher.on_result({"nonce": doc["nonce"], "ok": False, "code": code,
                                  "message": message}, doc["dog"])


def sent(station, verb: str, before: int) -> None:
    wait_for(lambda: sum(t.endswith(f"/cmd/{verb}") for t, _ in station.published) > before,
             f"{verb} sent", timeout_s=30)


def count(station, verb: str) -> int:
    return sum(t.endswith(f"/cmd/{verb}") for t, _ in station.published)


@pytest.mark.timeout(300)
def test_the_wall_its_order_and_a_commands_refused_and_timeout_states(wall, browser_page,
                                                                       monkeypatch):
    station, dogs = wall
    page = browser_page
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, OPERATOR)
    page.wait_for_selector(f"#session #who >> text={OPERATOR}", timeout=TIMEOUT_MS)

    # 9 tiles in 3 columns once every dog's video is in (a dog with no frame yet is NO SIGNAL
    # and would lead the wall); 4 in 2; alphabetical while no dog needs attention
    check_layout(page, 9, 3)
    page.wait_for_function("() => [...document.querySelectorAll('#wall .tile .video')]"
                           ".filter(v => v.naturalWidth === 320).length === 9", timeout=TIMEOUT_MS)
    wait_order(page, DOGS)
    check_layout(page, 4, 2)
    assert wall_order(page, 4) == DOGS[:4]

    # the dog that needs attention first: an e-stopped dog leads, then an offline one (off
    # the 4-tile wall by name, on it now), then the rest by name
    dogs.estop["dog5"] = "e-stop by the handheld"
    wait_order(page, ["dog5", "dog1", "dog2", "dog3"])
    page.wait_for_selector(".tile[data-dog=dog5].estopped", timeout=TIMEOUT_MS)
    dogs.live["dog7"] = False
    dogs.row(StatusRow("dog7", "offline", time.time()))
    wait_order(page, ["dog5", "dog7", "dog1", "dog2"])
    page.wait_for_selector(".tile[data-dog=dog7].stale .nosignal:not([hidden])", timeout=TIMEOUT_MS)
    # a 1-tile wall shows the one that needs attention first, the whole width
    only = check_layout(page, 1, 1)
    assert [t["dog"] for t in only] == ["dog5"]
    shown = check_layout(page, 9, 3)
    assert [t["dog"] for t in shown] == ["dog5", "dog7", "dog1", "dog2", "dog3", "dog4", "dog6",
                                         "dog8", "dog9"]

    # the dog view: a command the dog refuses shows the code's words; the dog's own detail (its
    # words, English) stays on the line as data, not as its text
    page.click(".tile[data-dog=dog1] .frame")
    page.wait_for_selector("#dogview:not([hidden]) #verbs button[data-verb=siren]:not([disabled])",
                           timeout=TIMEOUT_MS)
    before = count(station, "siren")
    page.click("#verbs button[data-verb=siren]")
    sent(station, "siren", before)
    page.wait_for_selector("#cmdlog li[data-verb=siren][data-state=pending]", timeout=TIMEOUT_MS)
    refuse(station, "siren", "estop_engaged", "siren held off: the e-stop holds")
    line = "#cmdlog li[data-verb=siren][data-state=refused]"
    page.wait_for_selector(line, timeout=TIMEOUT_MS)
    assert page.inner_text(line).endswith("Siren: refused (the e-stop holds)")
    assert page.get_attribute(line, "data-code") == "estop_engaged"
    assert page.get_attribute(line, "title") == "siren held off: the e-stop holds"
    assert "held off" not in page.inner_text(line)

    # no answer from the dog within the station's wait: timeout (shortened from 8 s here)
    monkeypatch.setattr(live_socket, "WAIT_S", 1.5)
    before = count(station, "police_light")
    page.click("#verbs button[data-verb=police_light]")
    sent(station, "police_light", before)
    line = "#cmdlog li[data-verb=police_light]"
    page.wait_for_selector(f"{line}[data-state=timeout]", timeout=TIMEOUT_MS)
    assert page.inner_text(line).endswith("Police light: timeout")

    # the alarm queue's words: the event's type and the fact that decided its severity (a
    # glass break: the sound's class), the station's own alarms (dog7 offline; an event flood
    # it sheds); the dog's message stays on the entry as data
    event = EventFactory("dog1").make(time.time(), "sound", "warning", "burst above 3 kHz",
                                      {"class": "glass_break", "level_dbfs": -4.0})
    (row,), _ = Ingest().handle("patrol/v1/dog1/events", json.dumps(event).encode(), time.time())
    dogs.row(row)
    shed = shed_notice("dog3", time.time(), CRITICAL_EVENTS, LIMITS[CRITICAL_EVENTS])
    dogs.row(EventRow("dog3", time.time(), shed))
    glass = f"#alarm-list li[data-event='{event['id']}'] .what"
    flood = f"#alarm-list li[data-event='{shed['id']}'] .what"
    page.wait_for_selector(glass, timeout=TIMEOUT_MS)
    page.wait_for_selector(flood, timeout=TIMEOUT_MS)
    assert page.inner_text(glass) == "sound: glass break"
    assert page.get_attribute(glass, "title") == "burst above 3 kHz"
    assert page.inner_text(flood).startswith("event flood: sends critical events faster")

    # in Chinese: the alarms, and the next refusal's words
    page.select_option("#lang", "zh")
    page.wait_for_function(f"() => document.querySelector(\"{glass}\")?.textContent === '声音：玻璃破碎'",
                           timeout=TIMEOUT_MS)
    assert page.inner_text(flood).startswith("事件过多：严重事件发送过快")
    offline = "#alarm-list li[data-dog=dog7][data-type=offline] .what"
    assert page.inner_text(offline) == "离线：链路已断开"
    before = count(station, "siren")
    page.click("#verbs button[data-verb=siren]")
    sent(station, "siren", before)
    page.wait_for_function("() => document.querySelectorAll('#cmdlog li[data-verb=siren]').length === 2",
                           timeout=TIMEOUT_MS)
    refuse(station, "siren", "busy", "queue full (16)")
    line = "#cmdlog li[data-verb=siren][data-state=refused][data-code=busy]"
    page.wait_for_selector(line, timeout=TIMEOUT_MS)
    assert page.inner_text(line).endswith("警笛：被拒绝（机器狗命令队列已满）")
    assert errors == [], errors


def audit_rows(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#people .audit-log tbody tr", "rs => rs.map(r => ({kind: r.dataset.kind, "
        "cells: [...r.cells].map(c => c.textContent), refused: r.classList.contains('refused')}))")


def local_time(page, seconds: float) -> str:
    """`seconds` as the browser's datetime-local input takes it (its own time zone)."""
    return page.evaluate(
        "s => { const d = new Date(s * 1000), p = n => String(n).padStart(2, '0'); "
        "return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T"
        "${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }", seconds)


def filter_audit(page, want: int, **fields: str) -> list[dict]:
    for name in ("kind", "actor", "target", "since", "until"):
        page.fill(f"#people .audit-filter input[name={name}]", fields.get(name, ""))
    page.click("#people .audit-filter button[type=submit]")
    page.wait_for_function(f"() => document.querySelectorAll('#people .audit-log tbody tr').length === {want}",
                           timeout=TIMEOUT_MS)
    time.sleep(0.5)   # nothing more arrives: the count is the page's, not a moment of it
    return audit_rows(page)


@pytest.mark.timeout(180)
def test_the_audit_log_pages_back_and_filters_in_the_admins_browser(console, browser_page):
    station, _dogs = console
    page = browser_page
    errors = watch_errors(page)
    station.accounts.add_account(local_admin("test"), ADMIN, "admin", PASSWORD)
    # 60 commands to dog1 (one refused), then, from a whole second on, 15 talk windows on dog2
    for n in range(60):
        station.accounts.record("command", OPERATOR, "dog1", ok=n != 30, n=n)
    since = int(time.time()) + 1
    time.sleep(since - time.time() + 0.05)
    for n in range(15):
        station.accounts.record("talk", OPERATOR, "dog2", n=n)

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, ADMIN)
    page.wait_for_selector(f"#session #who >> text={ADMIN}", timeout=TIMEOUT_MS)
    page.click("#people-button")
    page.wait_for_function("() => document.querySelectorAll('#people .audit-log tbody tr').length === 50",
                           timeout=TIMEOUT_MS)
    total = len(station.accounts.tables.audit(1000))
    assert total > 75
    # newest first, 50 a page; Older pages back until there is no more, then hides
    rows = audit_rows(page)
    assert [json.loads(r["cells"][5])["n"] for r in rows if r["kind"] == "talk"] == list(range(14, -1, -1))
    while page.is_visible("#people button.older"):
        shown = len(rows)
        page.click("#people button.older")
        page.wait_for_function(f"() => document.querySelectorAll('#people .audit-log tbody tr').length > {shown}"
                               " || document.querySelector('#people button.older').hidden", timeout=TIMEOUT_MS)
        rows = audit_rows(page)
    assert len(rows) == total, (len(rows), total)
    commands = [r for r in rows if r["kind"] == "command"]
    assert [json.loads(r["cells"][5])["n"] for r in commands] == list(range(59, -1, -1))
    assert [json.loads(r["cells"][5])["n"] for r in commands if r["refused"]] == [30]
    assert all(r["cells"][2] == OPERATOR and r["cells"][3] == "dog1" for r in commands)

    # by target: the talk windows on dog2 only, one page
    rows = filter_audit(page, 15, target="dog2")
    assert {(r["kind"], r["cells"][3]) for r in rows} == {("talk", "dog2")}
    assert page.is_hidden("#people button.older")
    # by kind and time: no command from that second on; the 60 before it, paged
    assert filter_audit(page, 0, kind="command", since=local_time(page, since)) == []
    rows = filter_audit(page, 50, kind="command", until=local_time(page, since))
    page.click("#people button.older")
    page.wait_for_function("() => document.querySelectorAll('#people .audit-log tbody tr').length === 60",
                           timeout=TIMEOUT_MS)
    page.wait_for_selector("#people button.older", state="hidden", timeout=TIMEOUT_MS)
    # by account: the admin's own login, not the operator's lines
    rows = filter_audit(page, len(station.accounts.tables.audit(1000, actor=ADMIN)), actor=ADMIN)
    assert rows and all(r["cells"][2] == ADMIN for r in rows)
    assert errors == [], errors
