"""The viewer's login and command buttons in a real headless Chromium, every hop real: page ->
station (signs with dog1's key) -> secured Mosquitto (TLS, ACL) -> uplink_node -> payload_node
-> virtual MCU on a pty (and safety_node for the e-stop and its confirmed release), and back as cmd/result (the page) and police-light state (telemetry).
A wrong password is refused by the station, shown in the page, audited, and nothing is sent;
the commands are signed and audited with the account's name.
"""
from __future__ import annotations

import subprocess
import sys
import urllib.error
import uuid
from functools import partial

import pytest

from robot_dog.station.accounts import local_admin
from robot_dog.station.app import Station, StationConfig
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.firmware import PayloadNodeProcess
from tests.test_payload_estop_endpoints_e2e import release as release_on_the_dog
from tests.test_station_secure_e2e import Api

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)
CARD = "section.dog[data-dog=dog1]"
PASSWORD = "alice's password"


def spawn_uplink(children, broker, dog, namespace, tmp_path, **params):
    """uplink_node with `dog`'s fleet credentials under a ROS namespace of this test only (a
    concurrent test run's /dog1 services stay out of reach); `params` as more ROS parameters."""
    paths = broker.fleet.paths
    with open(tmp_path / f"uplink_{dog}.log", "w") as log:
        return children.spawn(
            sys.executable, "-m", "robot_dog.uplink.node", "--ros-args", "-r", f"__ns:={namespace}",
            "-p", f"dog_id:={dog}", "-p", f"broker_port:={broker.port}",
            "-p", f"ca_file:={paths.dog_ca_cert(dog)}", "-p", f"password_file:={paths.dog_password(dog)}",
            "-p", f"command_public_key:={paths.dog_public_key(dog)}",
            "-p", f"state_dir:={tmp_path / ('outbox_' + dog)}", "-p", "telemetry_hz:=5.0",
            *[arg for name, value in params.items() for arg in ("-p", f"{name}:={value}")],
            stdout=log, stderr=subprocess.STDOUT)


def light(api: Api) -> dict:
    """The police-light section of dog1's latest telemetry ({} before there is any)."""
    try:
        doc = api.get("/api/dogs/dog1/telemetry")
    except urllib.error.HTTPError:
        return {}
    return doc.get("payload", {}).get("police_light", {})


def test_login_then_police_light_on_from_the_page(secure_broker, virtual_mcu, children, tmp_path,
                                                  browser_page, caplog):
    namespace = f"/t{uuid.uuid4().hex[:8]}"
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db",
                                    0, fleet_dir=secure_broker.fleet.root)).start()
    http_port = station.http.port  # bound to port 0: the kernel's pick, never raced
    payload = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log", namespace=namespace)
    spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path)
    with open(tmp_path / "safety_node.log", "w") as log:
        children.spawn(sys.executable, "-m", "robot_dog.safety.node", "--ros-args",
                       "-r", f"__ns:={namespace}", stdout=log, stderr=subprocess.STDOUT)
    token = api_token(station.accounts)
    api = Api(http_port, token)
    audit = lambda dog: api.get(f"/api/dogs/{dog}/commands")["commands"]
    page = browser_page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    try:
        wait_for(lambda: light(api).get("pattern"), "dog1 telemetry with the police light state")
        page.goto(f"http://127.0.0.1:{http_port}/viewer")  # the plain viewer (/ is the console)
        page.wait_for_function("() => document.querySelector('#summary').textContent"
                               ".includes('log in to see the fleet')", timeout=30_000)
        assert page.query_selector(CARD) is None, "no dog, no data, no control before login"

        # --- wrong password: refused by the station, said in the page, audited; nothing sent --
        station.accounts.add_account(local_admin("test"), "alice", "operator", PASSWORD)
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD + "nope")
        page.click("#login-button")
        page.wait_for_function("() => document.querySelector('#login-error').textContent"
                               ".includes('Wrong name or password')", timeout=30_000)
        assert page.query_selector(CARD) is None, "still nothing shown"
        assert page.evaluate("() => sessionStorage.getItem('robot-dog.csrf')") is None
        assert [u for u in posts if "/commands/" in u] == [] and audit("dog1") == []
        failed = station.accounts.tables.audit(1, kind="login_failed")[0]
        assert (failed["actor"], failed["detail"]["reason"]) == ("alice", "wrong_password")

        # The dog's service client discovers police_light/set on its own schedule: wait until
        # the dog executes a command (API), so the click below meets a ready service.
        wait_for(lambda: api.command("dog1", "police_light", {"pattern": "off"})[1]
                 .get("result", {}).get("code") == "ok", "dog1 to serve police_light")

        # --- right password: logged in, light on, result in the page, state in the telemetry ---
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("#session >> text=alice", timeout=30_000)
        page.wait_for_selector(f"{CARD} button[data-cmd=light_on]", timeout=30_000)
        assert page.inner_text("#login-error") == ""
        page.click(f"{CARD} button[data-cmd=light_on]")
        page.wait_for_selector(f"{CARD} .result[data-code=ok]", timeout=30_000)
        assert page.inner_text(f"{CARD} .result").startswith("police_light: ok — alternate")
        assert wait_for(lambda: light(api).get("on") and light(api)["pattern"] == "alternate",
                        "police light on in dog1's telemetry")
        page.wait_for_function(
            "() => document.querySelector('section.dog[data-dog=dog1] .telemetry').textContent"
            ".includes('payload.police_light.patternalternate')", timeout=30_000)
        entry = next(c for c in audit("dog1") if c["issuer"] == "alice")
        assert entry["verb"] == "police_light" and entry["args"] == {"pattern": "alternate"}
        assert entry["code"] == "ok"
        page.wait_for_function(
            "() => document.querySelector('section.dog[data-dog=dog1] .audit').textContent"
            ".includes('alice: police_light {\"pattern\":\"alternate\"}ok')", timeout=30_000)

        # --- e-stop: one click, sent with the operator in its reason; safety_node engages and
        # the payload goes safe (the virtual MCU says so) ---------------------------------------
        wait_for(lambda: api.command("dog1", "estop_release", {})[1].get("result", {})
                 .get("code") in ("not_held", "not_engaged"), "dog1 to serve estop/release (nothing held)")
        page.click(f"{CARD} button[data-cmd=estop]")
        page.wait_for_selector(f"{CARD} .result[data-code=ok]", timeout=30_000)
        assert "engaged by station" in page.inner_text(f"{CARD} .result")
        entry = next(c for c in audit("dog1") if c["verb"] == "estop")
        assert entry["issuer"] == "alice" and "alice" in entry["args"]["reason"]
        assert virtual_mcu.wait_for(lambda s: "COMMANDED" in s["safe_reasons"], timeout=30.0)

        # --- release: asks first; cancelled = not sent, confirmed = released, payload normal ----
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click(f"{CARD} button[data-cmd=estop_release]")
        page.wait_for_function("() => document.querySelector('section.dog[data-dog=dog1] .result')"
                               ".textContent.includes('cancelled, not sent')", timeout=30_000)
        assert virtual_mcu.snapshot()["safe"]
        questions: list[str] = []
        page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
        page.click(f"{CARD} button[data-cmd=estop_release]")
        page.wait_for_function("() => document.querySelector('section.dog[data-dog=dog1] .result')"
                               ".textContent.includes('station released its hold')", timeout=30_000)
        assert "Release the station's e-stop on dog1?" in questions[0]
        # A loaded machine can starve the virtual MCU (it runs in this test's process) past the
        # payload link's 0.35 s of silence: safety_node then rightly holds `mcu` too, and the
        # person at the dog releases that hold once the link is back, as docs/safety.md says.
        def payload_out_of_safe() -> bool:
            if not virtual_mcu.snapshot()["safe"]:
                return True
            if "e-stop engaged by mcu" in (tmp_path / "safety_node.log").read_text():
                release_on_the_dog(namespace, "mcu")
            return False
        wait_for(payload_out_of_safe, "the payload out of its safe state after the release",
                 interval_s=1.0)

        # --- a registered dog that is not running: the command goes out, no result comes -------
        page.click("section.dog[data-dog=dog2] button[data-cmd=light_on]")
        page.wait_for_selector("section.dog[data-dog=dog2] .result[data-code=timeout]",
                               timeout=30_000)
        assert [c["code"] for c in audit("dog2")] == [None]
        screenshot = tmp_path / "viewer_commands.png"
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        station.stop()
        payload.kill()
        children.reap()
    assert sum("/commands/" in url for url in posts) == 4, posts  # the cancelled one never went
