"""Station HTTP server: routes, and bad requests answered with an error instead of a crash."""
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame
from robot_dog.station.accounts import local_admin
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import StatusRow, Storage, TelemetryRow
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import OPERATOR, api_token

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64


def auth(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


@pytest.fixture
def http(tmp_path):
    """Reads only: an admin's API token, no dispatcher (commands disabled)."""
    storage = Storage(tmp_path / "s.db")
    relay = FrameRelay()
    server = StationHttp(storage, relay, port=0).start()
    server.token = api_token(server.accounts)
    yield server
    server.stop()
    storage.close()


@pytest.fixture
def http_with_token(tmp_path):
    """A station API with an admin's API token and a dispatcher without command keys (every
    dog is unknown to it: nothing can be signed or published)."""
    storage = Storage(tmp_path / "s.db")
    dispatcher = Dispatcher(None, lambda topic, payload, qos: 0, storage)
    server = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher).start()
    server.token = api_token(server.accounts)
    yield server
    server.stop()
    storage.close()


def get(server, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}",
                                 headers=auth(server) if headers is None else headers)
    return urllib.request.urlopen(req, timeout=10)


def status_of(server, path, headers=None, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers={
        "Content-Type": "application/json", **(headers or {})}, method=method,
        data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_fleet_telemetry_and_frame_routes(http):
    now = time.time()
    http.storage.put(StatusRow("dog1", "online", now - 1.0))
    http.storage.put(TelemetryRow("dog1", now, {"v": 1, "seq": 4}))
    http.storage.flush()
    http.relay.publish(Frame("dog1", "bodycam", JPEG, 2.0))
    fleet = json.load(get(http, "/api/fleet"))
    assert fleet["dogs"] == [{"dog": "dog1", "status": "online", "health": "online",
                              "last_seen": now, "registered": False, "telemetry": 1, "frames": 0,
                              "events": 0, "cameras": ["bodycam"]}]
    assert json.load(get(http, "/api/dogs/dog1/telemetry")) == {"v": 1, "seq": 4}
    frame = get(http, "/video/dog1/bodycam.jpg")
    assert frame.headers["Content-Type"] == "image/jpeg" and frame.read() == JPEG
    assert b"Patrol station" in get(http, "/").read()  # the console (its browser test: test_station_console_browser.py)


@pytest.mark.parametrize("path,status", [
    ("/nope", 404), ("/api/dogs/dog1/telemetry", 404), ("/video/dog9/bodycam.jpg", 404),
    ("/api/dogs/..%2f..%2fetc/telemetry", 404), ("/video/DOG/x.jpg", 404),
])
def test_bad_paths_get_json_errors(http, path, status):
    with pytest.raises(urllib.error.HTTPError) as err:
        get(http, path)
    assert err.value.code == status
    assert "error" in json.loads(err.value.read())


def test_garbage_request_line_does_not_kill_the_server(http):
    with socket.create_connection(("127.0.0.1", http.port), timeout=5) as sock:
        sock.sendall(b"GET /\xff\xfe HTTP/1.1garbage\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):  # answered, then closed
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"].startswith("bad request")
    req = urllib.request.Request(f"http://127.0.0.1:{http.port}/api/fleet", method="POST", data=b"x",
                                 headers=auth(http))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 405
    assert json.load(get(http, "/api/fleet")) == {"dogs": []}


def test_viewer_page_shows_status_telemetry_and_alerts_in_chromium(http, browser_page):
    """The real page in headless Chromium renders what the API serves, alerts by severity."""
    from robot_dog.station.storage import EventRow

    now = time.time()
    http.storage.put(StatusRow("dog1", "online", now))
    http.storage.put(TelemetryRow("dog1", now, {"v": 1, "dog": "dog1", "seq": 4, "ts": now,
                                                "battery": {"percentage": 0.8125}}))
    http.storage.put(EventRow("dog1", 3.0, {"v": 1, "dog": "dog1", "ts": 3.0, "id": "evt-00000001",
                                            "type": "sound", "severity": "critical",
                                            "message": "glass break"}))
    http.storage.flush()
    page = browser_page
    page.goto(f"http://127.0.0.1:{http.port}/viewer")  # the plain viewer (/ is the console)
    page.wait_for_function("() => document.querySelector('#summary').textContent"
                           ".includes('log in to see the fleet')", timeout=30_000)
    assert page.query_selector("section.dog") is None, "nothing shown before login"
    http.accounts.add_account(local_admin("test"), "alice", "viewer", "alice's password")
    page.fill("#name", "alice")
    page.fill("#password", "alice's password")
    page.click("#login-button")  # reads only: a viewer
    card = "section.dog[data-dog=dog1]"
    page.wait_for_selector(f"{card} .alerts li.critical", timeout=30_000)
    assert "sound: glass break" in page.inner_text(f"{card} .alerts")
    assert page.inner_text(f"{card} .status") == "online"
    # the telemetry table fills from its own request, maybe after the alerts
    page.wait_for_function(f"() => document.querySelector('{card} .telemetry')?.textContent"
                           ".includes('battery.percentage')", timeout=30_000)
    telemetry = page.inner_text(f"{card} .telemetry")
    assert "battery.percentage" in telemetry and "0.81" in telemetry


def test_page_is_served_with_a_policy_that_keeps_it_local_and_unframed(http):
    reply = get(http, "/")
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, "no inline script"
    assert "frame-ancestors 'none'" in policy and reply.headers["X-Frame-Options"] == "DENY"


def test_an_api_token_is_its_accounts_alone_and_names_no_one_else(http_with_token, tmp_path):
    """A person's API token works on the station that made it, and its requests are that
    account's, whatever X-Operator (the free-form name of old) says."""
    ok = {"Authorization": f"Bearer {http_with_token.token}", "X-Operator": "alice"}
    storage = Storage(tmp_path / "none.db")
    no_token = StationHttp(storage, FrameRelay(), port=0).start()
    try:
        assert status_of(no_token, "/api/fleet", ok)[0] == 401      # no such token there
    finally:
        no_token.stop()
        storage.close()
    assert status_of(http_with_token, "/api/session", ok) == (200, {
        "name": OPERATOR, "role": "admin", "via": "token", "commands": True})
    for wrong in ({**ok, "Authorization": "Bearer s3crex"}, {"X-Operator": "mallory"}):
        code, body = status_of(http_with_token, "/api/session", wrong)
        assert code == 401 and body["code"] == "not_authenticated"
    assert status_of(http_with_token, "/api/session", ok, method="POST")[0] == 405
    # a command with the right token reaches the dispatcher, which has no key for dog1
    assert status_of(http_with_token, "/api/dogs/dog1/commands/estop_release", ok, "POST")[0] == 404
    assert http_with_token.storage.commands("dog1") == []
