"""The console's incidents in a real headless Chromium against a real station web server (the
`console` fixture of test_station_console_browser.py: two dogs played in-process the way ingest
hands their rows over, commands signed and kept as the broker would get them). A commander
dispatches from an alarm in two clicks (Dispatch, Confirm): the incident opens from the alarm,
goto and task are signed, and every entry reaches the page on its live socket, also what the
dog and the officer report; a point clicked on the map with NaN or beyond the verb's range is
refused with its code shown; notes and the close from the incidents page; a viewer's buttons
are disabled with the reason and the station refuses the viewer anyway (403, audited); the
page in Chinese. No console error or CSP violation on the way."""
from __future__ import annotations

import json
import time

import pytest

from robot_dog.mqtt import topics
from robot_dog.station.accounts import local_admin
from robot_dog.station.storage import EventRow
from tests.test_station_console_browser import (PASSWORD, TIMEOUT_MS, console, log_in,  # noqa: F401
                                                shot, watch_errors)

CHIEF = "指挥员李"
OFFICER = "王警官"
ALARM = "evt-00000077"


def sent(station, verb: str) -> list[dict]:
    return [doc for t, doc in station.published if topics.parse(t).sub == verb]


def report(station, n: int, type_: str, data: dict) -> None:
    """What dog1's uplink would hand the station's intake after ingest stored it."""
    station.incidents.on_event("dog1", {"v": 1, "dog": "dog1", "ts": time.time(), "id": f"boot1-{n:04d}",
                                        "type": type_, "severity": "info", "message": "", "data": data})


def entries(page, scope: str = "#dog-incident") -> list[str]:
    return page.eval_on_selector_all(f"{scope} .timeline li", "els => els.map(e => e.dataset.kind)")


@pytest.mark.timeout(300)
def test_an_alarm_dispatched_in_two_clicks_and_followed_to_the_close(console, browser_page):
    station, dogs = console
    station.accounts.add_account(local_admin("test"), CHIEF, "commander", PASSWORD)
    page = browser_page
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, CHIEF)
    page.wait_for_selector(f"#session #who >> text={CHIEF}", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('.tile[data-dog=dog1] .video')?.naturalWidth === 320",
                           timeout=TIMEOUT_MS)

    event = {"v": 1, "dog": "dog1", "ts": time.time(), "id": ALARM, "type": "sound",
             "severity": "critical", "message": "glass break <img src=x onerror=alert(1)>"}
    dogs.row(EventRow("dog1", time.time(), event))
    line = f"#alarm-list li[data-event={ALARM}]"
    page.wait_for_selector(f"{line} button.dispatch:not([disabled])", timeout=TIMEOUT_MS)

    # click 1: Dispatch on the alarm; the dialog has the dog, where it was, what it heard
    page.click(f"{line} button.dispatch")
    page.wait_for_selector("#dispatch-dialog[open]", timeout=TIMEOUT_MS)
    assert page.input_value("#dispatch-dog") == "dog1"
    x, y = float(page.input_value("#dispatch-x")), float(page.input_value("#dispatch-y"))
    assert "glass break <img" in page.input_value("#dispatch-what")
    page.fill("#dispatch-officer", OFFICER)   # nobody has paired on dog1's handheld in this station
    shot(page, "console-dispatch-en.png")
    # click 2: Confirm -> incident opened from the alarm, dog sent, officer given the task
    page.click("#dispatch-confirm")
    page.wait_for_selector("#dispatch-dialog", state="hidden", timeout=TIMEOUT_MS)
    goto, task = sent(station, "goto")[0], sent(station, "task")[0]
    assert (goto["issuer"], goto["args"]["x"], goto["args"]["y"]) == (CHIEF, x, y)
    inc = task["args"]["incident"]
    assert task["args"]["what"].startswith("sound: glass break <img")
    page.wait_for_selector(f"{line} button.incident-link >> text={inc}", timeout=TIMEOUT_MS)

    # the incident beside the dog view; what the dog and the officer report arrives live
    page.click(".tile[data-dog=dog1] .frame")
    page.wait_for_selector(f"#dog-incident .incident[data-incident='{inc}']", timeout=TIMEOUT_MS)
    report(station, 1, "officer_task", {"incident": inc, "officer": OFFICER, "state": "accepted"})
    report(station, 2, "goal", {"label": "navigate_to odom", "state": "arrived"})
    report(station, 3, "officer_task", {"incident": inc, "officer": OFFICER, "state": "on_scene"})
    page.wait_for_function("n => document.querySelectorAll('#dog-incident .timeline li').length >= n",
                           arg=8, timeout=TIMEOUT_MS)
    assert entries(page) == ["opened", "alarm", "dog_dispatched", "officer_assigned", "unit_status",
                             "dog_event", "unit_status", "unit_status"]
    assert page.query_selector("#dog-incident img") is None           # names and text are data
    assert f"{OFFICER}: on scene" in page.inner_text("#dog-incident .units")

    # a point clicked on the map: NaN and a point beyond the verb's range refused with their codes
    box = page.locator("#map").bounding_box()   # clear of the zoom buttons (top left)
    page.click("#map", position={"x": box["width"] - 40, "y": box["height"] - 40})
    page.wait_for_selector("#dispatch-dialog[open]", timeout=TIMEOUT_MS)
    assert page.input_value("#dispatch-incident") == inc               # joins the dog's incident
    page.fill("#dispatch-x", "NaN")
    page.click("#dispatch-confirm")
    page.wait_for_selector("#dispatch-status[data-code=bad_target]", timeout=TIMEOUT_MS)
    # the station's refusal in the catalogue's words, its own detail kept as the title
    assert page.inner_text("#dispatch-status") == "Refused: a point out of range"
    assert page.get_attribute("#dispatch-status", "title")
    page.fill("#dispatch-x", "1e7")
    page.click("#dispatch-confirm")
    page.wait_for_selector("#dispatch-status[data-code=bad_args]", timeout=TIMEOUT_MS)
    assert page.inner_text("#dispatch-status") == "Refused: arguments out of range"
    page.click("#dispatch-cancel")
    assert len(sent(station, "goto")) == 1, "nothing signed for a refused goal"

    # the incidents page: a note, then the close with a disposition
    page.click("#back")
    page.click("#incidents-button")
    page.click(f"#incidents tr[data-incident='{inc}']")
    detail = f"#incidents .incident[data-incident='{inc}']"
    page.fill(f"{detail} .note-text", "suspect detained by the kiosk")
    page.click(f"{detail} .add-note")
    page.wait_for_selector(f"{detail} .timeline li[data-kind=note]", timeout=TIMEOUT_MS)
    page.select_option(f"{detail} .disposition-pick", "arrest")
    page.once("dialog", lambda d: d.accept())
    page.click(f"{detail} .close-incident")
    page.wait_for_selector(f"{detail}[data-state=closed] .timeline li[data-kind=closed]", timeout=TIMEOUT_MS)
    shot(page, "console-incidents-en.png")
    assert entries(page, detail)[-2:] == ["note", "closed"]
    assert station.incidents.get(local_admin("test"), inc)["disposition"] == "arrest"

    page.select_option("#lang", "zh")
    page.wait_for_function("() => document.querySelector('#incidents h2')?.textContent === '警情'",
                           timeout=TIMEOUT_MS)
    page.click(f"#incidents tr[data-incident='{inc}']")
    page.wait_for_selector(f"{detail} .timeline li[data-kind=closed] >> text=已抓获", timeout=TIMEOUT_MS)
    shot(page, "console-incidents-zh.png")
    refused = [e for e in errors if "status of 400" in e]
    assert len(refused) == 2 and [e for e in errors if e not in refused] == [], errors  # NaN, 1e7


@pytest.mark.timeout(180)
def test_a_viewer_and_an_operator_see_dispatch_disabled_with_the_reason_and_are_refused(console, browser_page):
    station, dogs = console
    page = browser_page
    errors = watch_errors(page)
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    for name, role in (("vera", "viewer"), (OFFICER, "operator")):
        log_in(page, name)
        page.wait_for_selector(f"#session #who >> text={name}", timeout=TIMEOUT_MS)
        event = {"v": 1, "dog": "dog1", "ts": time.time(), "id": f"evt-0000009{len(name)}",
                 "type": "sound", "severity": "critical", "message": "shout"}
        dogs.row(EventRow("dog1", time.time(), event))
        selector = f"#alarm-list li[data-event={event['id']}] button.dispatch"
        page.wait_for_selector(selector, timeout=TIMEOUT_MS)
        button = page.locator(selector)    # the queue is redrawn every second: found anew each time
        assert button.is_disabled()
        assert button.get_attribute("title") == f"disabled: the role {role} may not dispatch (a commander's call)"
        # the station refuses what the page would not send: 403, and the refusal is on record
        status = page.evaluate("""async () => (await fetch('/api/incidents/respond', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': sessionStorage.getItem('console.csrf')},
            body: JSON.stringify({summary: 'x', dog: 'dog1', target: {x: 1, y: 1}})})).status""")
        assert status == 403
        denied = station.accounts.tables.audit(1, kind="denied", actor=name)[0]
        assert denied["detail"]["action"] == "dispatch"
        page.click("#incidents-button")
        page.wait_for_selector("#incidents button.open-new[disabled]", timeout=TIMEOUT_MS)
        page.click("#incidents-button")
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)
    assert sent(station, "goto") == [] and json.dumps(station.published).count("task") == 0
    assert [e for e in errors if "403" not in e] == [], errors   # the refused fetch's own line
