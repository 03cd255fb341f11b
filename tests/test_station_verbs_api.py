"""GET /api/verbs: the station page's command list comes from the verb registry, so a verb added
to the registry (here by a fixture) reaches the page without touching the page."""
import json
import urllib.error
import urllib.request

import pytest

from robot_dog import verbs
from robot_dog.station.accounts import local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import StatusRow, Storage
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import api_token


@pytest.fixture
def horn(monkeypatch):
    """A new verb, as a developer adds one: a Verb, a Preset and its row, nothing else."""
    verb = verbs.Verb("horn", "a short horn blast", frozenset({verbs.STATION}),
                      verbs.Service("horn/sound", "robot_dog_interfaces/Horn"),
                      {"seconds": verbs.Number(0.1, 3.0, 0.5, unit="s")}, refusals=("too_loud",))
    monkeypatch.setitem(verbs.VERBS, "horn", verb)
    monkeypatch.setitem(verbs.PRESETS, "horn_blast", verbs.Preset(
        "horn_blast", "Blast", "horn", {}, pick="seconds", choices=(0.5, 1.0)))
    monkeypatch.setattr(verbs, "STATION_ROWS", (*verbs.STATION_ROWS, ("Horn", ("horn_blast",))))
    return verb


@pytest.fixture
def station(tmp_path):
    storage = Storage(tmp_path / "s.db")
    sent = []
    dispatcher = Dispatcher(None, lambda topic, payload, qos: sent.append(topic) or 0, storage)
    server = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher).start()
    server.sent, server.token = sent, api_token(server.accounts)
    yield server
    server.stop()
    storage.close()


def call(server, path, body=None):
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers,
                                 data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_new_verb_reaches_the_api_without_touching_the_page(station, horn):
    with urllib.request.urlopen(f"http://127.0.0.1:{station.port}/api/verbs", timeout=10) as reply:
        doc = json.load(reply)            # public, like the docs: no login needed
    by_name = {v["name"]: v for v in doc["verbs"]}
    assert by_name["horn"]["args"]["properties"]["seconds"] == {
        "type": "number", "minimum": 0.1, "maximum": 3.0, "default": 0.5, "unit": "s"}
    assert by_name["horn"]["executor"] == {"kind": "service", "name": "horn/sound",
                                           "srv": "robot_dog_interfaces/Horn"}
    assert "too_loud" in by_name["horn"]["refusals"] and "bad_args" in by_name["horn"]["refusals"]
    assert {"label": "Horn", "presets": ["horn_blast"]} in doc["station"]["rows"]
    assert doc["presets"]["horn_blast"]["pick"] == {"arg": "seconds", "choices": [0.5, 1.0]}
    assert "speed_mode" not in by_name, "the station's list holds only what it may send"


def test_commands_are_checked_against_the_registry_before_signing(station, horn):
    for verb, args, code in (("horn", {"seconds": 9}, "bad_args"), ("horn", {"volume": 1}, "bad_args"),
                             ("speed_mode", {"crowd": True}, "not_allowed"),
                             ("launch", {}, "unknown_verb"), ("police_light", {}, "bad_args")):
        status, body = call(station, f"/api/dogs/dog1/commands/{verb}", args)
        assert (status, body["code"]) == (400, code), (verb, body)
    assert station.sent == [] and station.storage.commands("dog1") == []
    # a valid one goes on to the dispatcher (which holds no key for dog1: 404, its own code)
    status, body = call(station, "/api/dogs/dog1/commands/horn", {"seconds": 1.0})
    assert status == 404 and body["code"] == "not_found"


def test_the_page_shows_a_new_verb_and_sends_it(station, horn, browser_page):
    """Headless Chromium: the page builds its buttons from /api/verbs; the new verb's button
    sends the preset with the picked value (refused by this keyless station: not sent)."""
    station.storage.put(StatusRow("dog1", "online", 1.0))
    station.storage.flush()
    page = browser_page
    requests = []
    page.on("request", lambda r: requests.append((r.url, r.post_data)) if "/commands/" in r.url else None)
    page.goto(f"http://127.0.0.1:{station.port}/viewer")  # the plain viewer (/ is the console)
    station.accounts.add_account(local_admin("test"), "alice", "operator", "alice's password")
    page.fill("#name", "alice")
    page.fill("#password", "alice's password")
    page.click("#login-button")
    card = "section.dog[data-dog=dog1]"
    page.wait_for_selector(f"{card} button[data-cmd=horn_blast]", timeout=30_000)
    assert page.inner_text(f"{card} .controls").count("Horn") == 1
    page.select_option(f"{card} select[data-pick=horn_blast]", "1")
    page.click(f"{card} button[data-cmd=horn_blast]")
    page.wait_for_function(f"() => document.querySelector('{card} .result').textContent"
                           ".includes('not sent')", timeout=30_000)
    assert [(url.rsplit("/", 1)[1].split("?")[0], json.loads(body)) for url, body in requests] == [
        ("horn", {"seconds": 1})]
    # the other rows are there too, built the same way
    for name in ("light_on", "light_off", "searchlight_set", "siren_on", "siren_off", "estop",
                 "estop_release"):
        assert page.query_selector(f"{card} button[data-cmd={name}]"), name
