"""The demo path end to end, every hop real: bodycam node -> uplink node -> Mosquitto (TLS,
the demo's fleet) -> station -> SQLite -> viewer page in headless Chromium; logged in with the
name and password the demo prints (its `demo` operator), a click switches the police light on (signed command ->
uplink -> payload node -> virtual MCU -> telemetry). Then Ctrl-C leaves no process behind."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid

import psutil
import pytest

from robot_dog.ros import dds_env
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow
# The demo's dog ID is its ROS namespace: one of this run's own.
DOG = f"d{uuid.uuid4().hex[:8]}"
CARD = f"section.dog[data-dog={DOG}]"



def read(port: int, path: str, token_file) -> dict:
    """A read of the station's API with the demo's API token (reads need a login)."""
    token = token_file.read_text().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req, timeout=5))


def fleet(port: int, token_file) -> list[dict]:
    try:
        return read(port, "/api/fleet", token_file)["dogs"]
    except OSError:  # also before the demo wrote the token file
        return []


def police_light(port: int, token_file) -> dict:
    try:
        doc = read(port, f"/api/dogs/{DOG}/telemetry", token_file)
    except OSError:
        return {}
    return doc.get("payload", {}).get("police_light", {})


def test_frame_reaches_station_and_page_then_clean_exit(tmp_path, browser_page):
    broker_port, http_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.cli", "demo", "--headless", "--mode", "kinematic", "--broker-port", str(broker_port),
         "--http-port", str(http_port), "--handheld-port", "0", "--var", str(tmp_path), "--dog", DOG],
        env=dds_env.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    tree = psutil.Process(demo.pid)
    token_file = tmp_path / "demo.token"   # the demo's API token for scripts
    try:
        dogs = wait_for(lambda: [d for d in fleet(http_port, token_file)
                                 if d["frames"] > 0 and d["telemetry"] > 0],
                        "a frame and telemetry at the station", timeout_s=90)
        assert dogs[0]["dog"] == DOG and dogs[0]["status"] == "online"
        assert dogs[0]["cameras"] == ["bodycam"]
        # the scripts' token is a per-person API token of the demo's login; no shared token
        assert read(http_port, "/api/session", token_file) | {"csrf": None} == {
            "name": "demo", "role": "operator", "via": "token", "commands": True, "csrf": None}
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert not (tmp_path / "fleet" / "station" / "operator.token").exists()
        descendants = tree.children(recursive=True)
        assert len(descendants) >= 4  # broker, launcher, bodycam, uplink

        page = browser_page
        page.goto(f"http://127.0.0.1:{http_port}/viewer")  # the plain viewer (/ is the console)
        name, password = (tmp_path / "demo.login").read_text().splitlines()
        page.fill("#name", name)  # reads need a login too: nothing shows before it
        page.fill("#password", password)
        page.click("#login-button")
        page.wait_for_selector("#session >> text=demo", timeout=30_000)
        page.wait_for_selector(f"{CARD} img.video", timeout=30_000)
        page.wait_for_function(
            "() => { const i = document.querySelector('" + CARD + " img.video');"
            " return i && i.complete && i.naturalWidth === 640 && i.naturalHeight === 480; }",
            timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('" + CARD + " .telemetry')"
            ".textContent.includes('frames received')", timeout=30_000)
        assert "online" in page.inner_text(f"{CARD} .status")
        assert re.search(r"1 dogs, 1 online", page.inner_text("#summary"))

        card = CARD

        def light_on() -> bool:
            """Click; True once the dog answers ok (`unavailable` while its service client
            has not discovered the payload node yet)."""
            from playwright.sync_api import TimeoutError as PageTimeout
            try:
                page.click(f"{card} button[data-cmd=light_on]")
                page.wait_for_selector(f"{card} .result:not([data-code=pending])", timeout=30_000)
            except PageTimeout:
                return False   # a stalled answer on a loaded machine: click again
            return page.get_attribute(f"{card} .result", "data-code") == "ok"
        wait_for(light_on, "the police light command to succeed", timeout_s=120, interval_s=1.0)
        wait_for(lambda: police_light(http_port, token_file).get("on"),
                 "the light on in the telemetry")
        page.screenshot(path=str(tmp_path / "viewer.png"))
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out[-3000:]
    assert f"password = {password}" in out and "name     = demo" in out
    assert f"scripts: Authorization: Bearer {token_file.read_text().strip()}" in out
    assert "mqtts://127.0.0.1:" in out
    summary = json.loads(out[out.rindex("\n{"):])
    assert summary["frames_at_station"] > 0 and summary["telemetry_at_station"] > 0
    assert summary["rejected"] == {}
    survivors = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], f"orphans left: {survivors}"
