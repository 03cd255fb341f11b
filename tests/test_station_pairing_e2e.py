"""A handheld pairing code issued from the console, every hop real: an admin in a real Chromium
asks the station for a code for 王警官 on dog1; the station signs `pair_handheld` with a fresh
key, the secured Mosquitto carries it to uplink_node, teleop_node opens the code and answers it
sealed, the console shows it once. A scripted phone (the page's protocol over the fleet-CA TLS)
pairs with it; its light request reaches payload_node (virtual MCU on a pty), whose own log
names the officer, as teleop_node's does. The officer's account then commands dog1 from the
station (payload_node's log names the officer again) and is refused on dog2 (403, audited). The
code is in no log, no stored row and no audit line."""
from __future__ import annotations

import json
import logging
import re
import ssl
from functools import partial
from types import SimpleNamespace

import pytest

from robot_dog.station.accounts import local_admin
from robot_dog.station.app import Station, StationConfig
from robot_dog.teleop.certs import issue_teleop_cert
from tests import support
from tests.fixtures.accounts import api_token
from tests.fixtures.firmware import PayloadNodeProcess
from tests.fixtures.ros_nodes import NodeProcess
from tests.support import free_port
from tests.test_station_accounts_http import call, login
from tests.test_station_secure_e2e import Api
from tests.test_station_console_browser import log_in, watch_errors
from tests.test_teleop_server import Phone
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=120.0)
WANG = "王警官"
PASSWORD = "correct horse battery"
TIMEOUT_MS = 60_000


@pytest.mark.timeout(420)
def test_a_code_from_the_console_pairs_the_officers_phone_and_the_dogs_logs_name_the_officer(
        secure_broker, virtual_mcu, children, dog_namespace, tmp_path, browser_page, caplog):
    caplog.set_level(logging.DEBUG)   # every station log line, to look for the code
    fleet = secure_broker.fleet
    cert, key = issue_teleop_cert(fleet.root, "dog1")
    port = free_port()
    teleop = NodeProcess("robot_dog.teleop.node", dog_namespace, tmp_path / "teleop.log",
                         port=port, cert_file=cert, key_file=key)
    payload = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log",
                                 namespace=dog_namespace)
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=fleet.root)).start()
    http = SimpleNamespace(port=station.http.port)
    api = Api(station.http.port, api_token(station.accounts))  # an admin's API token
    try:
        spawn_uplink(children, secure_broker, "dog1", dog_namespace, tmp_path)
        for name, role in (("ada", "admin"), (WANG, "officer")):
            station.accounts.add_account(local_admin("test"), name, role, PASSWORD)
        wait_for(lambda: "handheld page on https://" in teleop.output(), "the handheld server")
        # the uplink discovers teleop/pair on its own schedule: ask until the dog answers (each
        # code opened voids the one before, so the console's below is the one that counts)
        wait_for(lambda: api.post("/api/dogs/dog1/handheld/pair", {"officer": WANG})[0] == 200,
                 "dog1 to open pairing codes")
        wait_for(lambda: api.command("dog1", "police_light", {"pattern": "off"})[1]
                 .get("result", {}).get("code") == "ok", "dog1 to serve police_light")

        # --- the console: the admin issues the code, shown once --------------------------------
        page = browser_page
        errors = watch_errors(page)
        page.goto(f"http://127.0.0.1:{http.port}/")
        page.select_option("#lang", "en")
        log_in(page, "ada", PASSWORD)
        page.wait_for_selector("#session #who >> text=ada", timeout=TIMEOUT_MS)
        page.click("#people-button")
        page.wait_for_selector("#people .pair-dog option[value=dog1]", state="attached",
                               timeout=TIMEOUT_MS)
        page.select_option("#people .pair-dog", "dog1")
        page.fill("#people .pair-officer", WANG)
        page.click("#people .pair-form button.pair")
        page.wait_for_selector("#people .pairing-result[data-kind=done]", timeout=TIMEOUT_MS)
        code = re.search(r"\b(\d{6})$", page.inner_text("#people .pairing-result")).group(1)

        # --- the officer's phone pairs with it and switches the light on ----------------------
        ctx = ssl.create_default_context(cafile=str(fleet.paths.ca_cert))
        phone = Phone(SimpleNamespace(port=port), ctx)
        phone.send("pair", code=code)
        phone.expect("paired")

        def light_on() -> bool:   # teleop_node discovers police_light/set on its own schedule
            phone.send("light", on=True)
            return bool(phone.expect("result", timeout=30)["ok"])
        wait_for(light_on, "the phone's light request carried out")
        wait_for(lambda: re.search(rf"police light alternate [\d.]+ Hz by {WANG}: ok",
                                   payload.output()), "payload_node's line naming the officer")
        assert f"handheld light by officer {WANG}: ok" in teleop.output()
        assert f"opened for officer {WANG} by ada" in teleop.output()

        # --- the officer's account: dog1 commanded (named in payload_node's log), dog2 refused --
        wang = login(http, WANG, PASSWORD)
        wait_for(lambda: call(http, "POST", "/api/dogs/dog1/commands/searchlight?wait=8",
                              {"level": 1.0}, wang)[1].get("result", {}).get("code") == "ok",
                 "the officer's searchlight command carried out")
        wait_for(lambda: f"searchlight level 1 by {WANG}: ok" in payload.output(),
                 "payload_node's line naming the officer's station command")
        status, body, _ = call(http, "POST", "/api/dogs/dog2/commands/siren?wait=0",
                               {"tone": "wail"}, wang)
        assert (status, body["code"]) == (403, "dog_not_paired")
        denied = station.accounts.tables.audit(1, kind="denied", actor=WANG)[0]
        assert (denied["target"], denied["detail"]["reason"]) == ("dog2", "dog_not_paired")

        # --- the code is nowhere but in the page that asked -----------------------------------
        station.storage.flush()
        stored = json.dumps([station.storage.commands("dog1", 1000),
                             station.accounts.tables.audit(1000)], ensure_ascii=False)
        uplink_log = (tmp_path / "uplink_dog1.log").read_text()
        alone = re.compile(rf"(?<!\d){code}(?!\d)")   # not a run of digits in a timestamp
        station_log = "\n".join(r.getMessage() for r in caplog.records   # not the phone's own
                                 if r.name.startswith(("robot_dog", "uvicorn")))
        for text in (stored, teleop.output(), payload.output(), uplink_log, station_log):
            assert not alone.search(text)
        assert [e for e in errors if "status of" not in e] == [], errors
        phone.ws.close()
    finally:
        teleop.kill()
        payload.kill()
        station.stop()
        children.reap()
