"""What a dog serves drives the console's dog view: a real dog stack without its megaphone
(uplink_node with its fleet credentials, payload_node on the virtual MCU, the bodycam on its
test scene) behind the secured Mosquitto and a real station, in headless Chromium. The dog's
telemetry names the verbs it executes now (`served`, from the verb registry and the ROS
graph); the siren and the announcement, which the missing megaphone would execute, are shown
disabled with "not served by this dog" in English and in Chinese, never hidden; the police
light, which payload_node serves, stays enabled and is carried out. Once the dog's stack stops,
every button says the dog is offline.
"""
from __future__ import annotations

import pytest

from robot_dog.station.accounts import local_admin
from robot_dog.station.app import Station, StationConfig
from tests.fixtures.firmware import PayloadNodeProcess
from tests.fixtures.processes import unique_namespace
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_station_console_browser import PASSWORD, log_in, watch_errors
from tests.test_viewer_commands import spawn_uplink

pytestmark = pytest.mark.slow
TIMEOUT_MS = 90_000
OPERATOR = "王警官"


def served(page, verb: str) -> str:
    """The `data-reason` of the dog view's button for `verb` ("" while it may be pressed)."""
    return page.eval_on_selector(f"#dogview button[data-verb={verb}]", "b => b.dataset.reason")


@pytest.mark.timeout(400)
def test_a_verb_the_dog_does_not_serve_is_disabled_with_the_reason(
        secure_broker, virtual_mcu, children, browser_page, tmp_path):
    namespace = unique_namespace()
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root,
                                    evidence_dir=tmp_path / "evidence")).start()
    station.accounts.add_account(local_admin("test"), OPERATOR, "operator", PASSWORD)
    payload = PayloadNodeProcess(virtual_mcu.link, tmp_path / "payload_node.log", namespace=namespace)
    bodycam = NodeProcess("robot_dog.bodycam.node:main", namespace, tmp_path / "bodycam.log",
                          width=320, height=240, fps=5.0, publish_raw=False)
    uplink = spawn_uplink(children, secure_broker, "dog1", namespace, tmp_path)
    page = browser_page
    errors = watch_errors(page)
    try:
        page.set_viewport_size({"width": 1366, "height": 768})
        page.goto(f"http://127.0.0.1:{station.http.port}/")
        page.select_option("#lang", "en")
        log_in(page, OPERATOR)
        page.click(".tile[data-dog=dog1] .frame", timeout=TIMEOUT_MS)
        page.wait_for_function("() => document.querySelector('#dogview .video')?.naturalWidth === 320",
                               timeout=TIMEOUT_MS)
        # the dog's telemetry names what it serves (until then nothing is known: no reason), and
        # payload_node's services are discovered: the light is served, the siren is not
        page.wait_for_function(
            "() => { const reason = verb => document.querySelector(`#dogview button[data-verb=${verb}]`)"
            "?.dataset.reason; return reason('police_light') === '' && "
            "reason('siren') === 'disabled: not served by this dog'; }", timeout=TIMEOUT_MS)
        for verb in ("siren", "announce"):
            assert served(page, verb) == "disabled: not served by this dog", verb
            button = page.query_selector(f"#dogview button[data-verb={verb}]")
            assert button.is_visible() and button.is_disabled(), f"{verb}: shown, not hidden"
            assert button.get_attribute("title") == "disabled: not served by this dog"
        assert not page.is_disabled("#verbs button[data-verb=searchlight]")
        telemetry = station.storage.latest_telemetry("dog1")
        assert {"police_light", "searchlight", "record"} <= set(telemetry["served"])
        assert "siren" not in telemetry["served"] and "announce" not in telemetry["served"]

        # the served verb is carried out: the dog's own answer, done
        page.select_option("#verbs [data-verb-box=police_light] select[data-arg=pattern]", "flash")
        page.click("#verbs button[data-verb=police_light]")
        page.wait_for_selector("#cmdlog li[data-verb=police_light][data-state=done]", timeout=TIMEOUT_MS)

        # the same reason in Chinese, from the one catalogue
        page.select_option("#lang", "zh")
        page.wait_for_function(
            "() => document.querySelector('#dogview button[data-verb=siren]')?.title === "
            "'不可用：本机器狗未提供此功能'", timeout=TIMEOUT_MS)
        assert served(page, "announce") == "不可用：本机器狗未提供此功能"
        assert not page.is_disabled("#verbs button[data-verb=police_light]")

        # the dog's stack stops: every button says it is offline
        uplink.terminate()
        uplink.wait(timeout=30)
        page.wait_for_function(
            "() => document.querySelector('#dogview button[data-verb=police_light]')?.dataset.reason"
            ".includes('离线')", timeout=TIMEOUT_MS)
        for verb in ("police_light", "siren", "estop"):
            assert page.is_disabled(f"#dogview button[data-verb={verb}]"), verb
        assert errors == [], errors
    finally:
        station.stop()
        bodycam.kill()
        payload.kill()
        children.reap()
