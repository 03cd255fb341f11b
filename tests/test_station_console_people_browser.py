"""The console's People panel in a real headless Chromium against a real station web server:
an admin creates an operator (its one-time password shown once), the operator logs in and
commands; names in Chinese and in markup stay text; the last admin cannot be disabled; a viewer
gets no account controls and the station refuses the API call anyway (403, logged); a handheld
pairing code is issued to an officer and shown once, then the lost phone is revoked; an
officer's console shows and commands only the dog paired to the officer. The dogs
are played in-process as in test_station_console_browser.py (the pairing code comes back
sealed with the command's key, as teleop_node seals it). Screenshots for docs/ come from here.
"""
from __future__ import annotations

import re

import pytest

from robot_dog.mqtt import reply_seal
from robot_dog.station.accounts import local_admin
from tests.support import wait_for
from tests.test_station_console_browser import (OPERATOR, PASSWORD, TIMEOUT_MS,  # noqa: F401
                                                answer, console, log_in, shot, watch_errors)

MARKUP = "<img src=x onerror=alert(1)>"
ROW = "#people .account-list tr[data-account='{}']"


def refusals_only(errors: list[str]) -> list[str]:
    """Console lines other than Chromium's own note of a refused request (the page shows it)."""
    return [e for e in errors if not re.search(r"status of (403|409)", e)]


def said(page, selector: str, kind: str) -> str:
    page.wait_for_selector(f"{selector}[data-kind={kind}]", timeout=TIMEOUT_MS)
    return page.inner_text(selector)


def console_as(page, station, name: str, password: str = PASSWORD) -> list[str]:
    """The console in English, logged in as `name`; the console's error lines (watched)."""
    errors = watch_errors(page)
    page.goto(f"http://127.0.0.1:{station.port}/")
    page.select_option("#lang", "en")
    log_in(page, name, password)
    page.wait_for_selector(f"#session #who >> text={name}", timeout=TIMEOUT_MS)
    return errors


def estop_from_tile(page, station) -> str:
    """Click dog1's E-STOP; the issuer of the signed command (the dog's answer played)."""
    page.click(".tile[data-dog=dog1] button[data-verb=estop]", timeout=TIMEOUT_MS)
    wait_for(lambda: any(t.endswith("dog1/cmd/estop") for t, _ in station.published),
             "the e-stop sent", timeout_s=30)
    return answer(station, "estop")["issuer"]


def open_people(page) -> None:
    page.click("#people-button")
    page.wait_for_selector("#people:not([hidden]) h2", timeout=TIMEOUT_MS)


def log_out(page) -> None:
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)


def add(page, name: str, role: str, password: str = "") -> str:
    page.fill("#people .account-add .new-name", name)
    page.select_option("#people .account-add .new-role", role)
    page.fill("#people .account-add .new-password", password)
    page.click("#people .account-add button.add")
    page.wait_for_selector(ROW.format(name.replace("'", "\\'")), timeout=TIMEOUT_MS)
    return said(page, "#people .account-result", "done")


@pytest.mark.timeout(300)
def test_an_admin_manages_people_and_pairs_a_handheld_from_the_console(console, browser_page):
    station, _dogs = console
    station.accounts.add_account(local_admin("test"), "ada", "admin", PASSWORD)
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})
    errors = console_as(page, station, "ada")
    open_people(page)
    page.wait_for_selector(ROW.format("ada"), timeout=TIMEOUT_MS)

    # an operator with a one-time password, shown once in the page and nowhere else
    text = add(page, "otto", "operator")
    password = text.rsplit(": ", 1)[1]
    assert len(password) == 16 and password not in str(station.accounts.tables.audit(1000))
    # names in Chinese and in markup: text in the page, never elements
    add(page, MARKUP, "viewer", "a long password")
    add(page, "王警官二号", "officer", "a long password")
    assert page.inner_text(f"{ROW.format(MARKUP)} .name") == MARKUP
    assert page.inner_text(f"{ROW.format('王警官二号')} .name") == "王警官二号"
    assert page.query_selector("#people img") is None

    # the last admin cannot be disabled: refused, said, audited; ada stays an enabled admin
    page.click(f"{ROW.format('ada')} button.disable")
    assert "last enabled admin" in said(page, "#people .account-result", "refused")
    assert not station.accounts.tables.account("ada").disabled
    assert station.accounts.tables.audit(1, kind="account_disabled")[0]["detail"]["reason"] == \
        "last_admin"
    # a role changed in the page holds at the station
    page.select_option(f"{ROW.format(MARKUP)} select.role", "commander")
    page.click(f"{ROW.format(MARKUP)} button.set-role")
    said(page, "#people .account-result", "done")
    assert station.accounts.tables.account(MARKUP).role == "commander"

    # a handheld pairing code for 王警官 on dog1, shown once; the dog is played here
    page.select_option("#people .pair-dog", "dog1")
    page.fill("#people .pair-officer", OPERATOR)
    page.click("#people .pair-form button.pair")
    topic, sent = wait_for(lambda: next(((t, d) for t, d in reversed(station.published)
                                         if t.endswith("/cmd/pair_handheld")), None),
                           "the signed pair_handheld command", timeout_s=30)
    assert (sent["issuer"], sent["args"]["officer"]) == ("ada", OPERATOR)
    station.dispatcher.on_result({
        "nonce": sent["nonce"], "ok": True, "code": "ok", "message": "", "data": {
            "sealed_code": reply_seal.seal(sent["args"]["key"], "314159", OPERATOR)}}, "dog1")
    assert "314159" in said(page, "#people .pairing-result", "done")
    page.wait_for_selector(f"#people .pairing-list li[data-dog=dog1][data-officer='{OPERATOR}']",
                           timeout=TIMEOUT_MS)
    station.storage.flush()
    assert "314159" not in str(station.storage.commands("dog1", 100))
    shot(page, "console-people-en.png")

    # the same panel in Chinese (redrawn when opened again)
    page.select_option("#lang", "zh")
    page.click("#people-button")
    open_people(page)
    page.wait_for_selector("#people .accounts h3 >> text=账号管理", timeout=TIMEOUT_MS)
    assert page.inner_text(f"{ROW.format('王警官二号')} .name") == "王警官二号"
    shot(page, "console-people-zh.png")
    # a refusal in the page's language, from the catalogue (the station's own detail is English)
    page.fill("#people .account-add .new-name", "王警官二号")
    page.select_option("#people .account-add .new-role", "viewer")
    page.fill("#people .account-add .new-password", "a long password")
    page.click("#people .account-add button.add")
    assert said(page, "#people .account-result", "refused") == "已有同名账号"
    page.select_option("#lang", "en")
    page.click("#people-button")
    open_people(page)

    # the lost phone: revoked from the console (asked first), the pairing ends at once
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#people .pairing-list li[data-dog=dog1] button.revoke-handheld")
    wait_for(lambda: any(t.endswith("dog1/cmd/revoke_handheld") for t, _ in station.published),
             "the revoke sent", timeout_s=30)
    answer(station, "revoke_handheld")
    page.wait_for_selector("#people .pairing-list li", state="detached", timeout=TIMEOUT_MS)
    assert station.accounts.tables.pairings() == []
    log_out(page)

    # the new operator logs in with its one-time password and commands
    log_in(page, "otto", password)
    page.wait_for_selector("#session #who >> text=otto", timeout=TIMEOUT_MS)
    assert estop_from_tile(page, station) == "otto"
    open_people(page)
    assert page.query_selector("#people .accounts") is None, "no account controls for an operator"
    assert refusals_only(errors) == [], errors


@pytest.mark.timeout(120)
def test_a_viewer_gets_no_account_controls_and_the_station_refuses_them(console, browser_page):
    station, _dogs = console
    page = browser_page
    errors = console_as(page, station, "vera")
    open_people(page)
    page.wait_for_selector("#people .tokens h3", timeout=TIMEOUT_MS)
    assert page.query_selector("#people .accounts") is None
    assert page.query_selector("#people .pairing") is None
    # the page's own session, CSRF token and all: the station says no
    status = page.evaluate("""async () => (await fetch('/api/accounts', {method: 'POST',
        headers: {'Content-Type': 'application/json',
                  'X-CSRF-Token': sessionStorage.getItem('console.csrf')},
        body: JSON.stringify({name: 'vera2', role: 'admin'})})).status""")
    assert status == 403
    assert station.accounts.tables.account("vera2") is None
    denied = station.accounts.tables.audit(1, kind="denied")[0]
    assert (denied["actor"], denied["detail"]["action"]) == ("vera", "accounts")
    assert refusals_only(errors) == [], errors


@pytest.mark.timeout(120)
def test_an_officers_console_shows_and_commands_only_the_dog_paired_to_the_officer(
        console, browser_page):
    station, _dogs = console
    admin = local_admin("test")
    station.accounts.add_account(admin, "王警官二号", "officer", PASSWORD)
    station.accounts.paired(admin, "dog1", "王警官二号")
    page = browser_page
    errors = console_as(page, station, "王警官二号")
    page.wait_for_function("() => document.querySelector('.tile[data-dog=dog1] .video')"
                           "?.naturalWidth === 320", timeout=TIMEOUT_MS)
    assert page.inner_text("#role") == "officer"
    # dog2 streams all along (test_station_console_browser.Dogs): none of it reached this page
    assert page.query_selector(".tile[data-dog=dog2]") is None
    assert estop_from_tile(page, station) == "王警官二号"
    open_people(page)
    assert page.query_selector("#people .pairing") is None, "no pairing codes of its own"
    assert refusals_only(errors) == [], errors
