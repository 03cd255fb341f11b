"""Two-way talk with real parts: the station's HTTP API and talk relay, the secured Mosquitto,
uplink_node, microphone_node and megaphone_node on the run's PulseAudio devices.

Listen: a tone played into the street sink (what the dog's microphone hears) comes back out of
the station's mic endpoint at its frequency, having crossed the broker as Opus. Talk: voice
posted to the station is refused there outside a talk window; voice packets published straight
to the dog (a station credential) are refused and logged by the dog outside a window (also
after a forged `talk`); the station's voice reaches the speaker's monitor at its frequency
inside a signed window, and is refused again once the window is closed.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from robot_dog.audio import devices, opus
from robot_dog.audio.stream import PcmOutput
from robot_dog.mqtt import signing, topics
from robot_dog.mqtt.client import Link
from robot_dog.station.accounts import local_admin
from robot_dog.station.app import Station, StationConfig
from tests.fixtures.accounts import api_token
from tests.fixtures.audio import MonitorRecorder, loud_seconds
from tests.fixtures.ros_nodes import NodeProcess
from tests.support import free_port, wait_for
from tests.test_audio_opus import encode_all, peak_hz, tone
from tests.test_station_secure_e2e import Api, mosquitto_pub

pytestmark = pytest.mark.slow
RATE = 48_000


def spawn_uplink(children, broker, dog: str, tmp_path, log):
    paths = broker.fleet.paths
    return children.spawn(
        sys.executable, "-m", "robot_dog.uplink.node", "--ros-args", "-r", f"__ns:=/{dog}",
        "-p", f"dog_id:={dog}", "-p", f"broker_port:={broker.port}",
        "-p", f"ca_file:={paths.dog_ca_cert(dog)}", "-p", f"password_file:={paths.dog_password(dog)}",
        "-p", f"command_public_key:={paths.dog_public_key(dog)}", "-p", f"state_dir:={tmp_path / dog}",
        stdout=log, stderr=subprocess.STDOUT)


class TalkApi(Api):
    def mic(self, dog: str, after: int) -> tuple[int, np.ndarray]:
        req = urllib.request.Request(f"{self.base}/api/dogs/{dog}/audio/mic?after={after}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            return int(reply.headers["X-Audio-Cursor"]), np.frombuffer(reply.read(), "<i2")

    def voice(self, dog: str, pcm: np.ndarray) -> int:
        req = urllib.request.Request(
            f"{self.base}/api/dogs/{dog}/audio/voice", method="POST", data=pcm.tobytes(),
            headers={"Authorization": f"Bearer {self.token}", "X-Operator": "alice",
                     "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def ok(self, dog: str, verb: str, args: dict) -> dict | None:
        status, body = self.command(dog, verb, args)
        return body if status == 200 and body["result"]["code"] == "ok" else None


def page_talk(http_port: int, password: str, dog: str, recorder: MonitorRecorder) -> None:
    """The page of the operator `alice` (an account with `password`): listen, then talk."""
    from playwright.sync_api import sync_playwright

    from tests.fixtures.browser import CHROMIUM_ARGS
    card = f"section.dog[data-dog={dog}]"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            *CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            context = browser.new_context(permissions=["microphone"])
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{http_port}/viewer")  # the plain viewer (/ is the console)
            page.fill("#name", "alice")
            page.fill("#password", password)
            page.click("#login-button")
            page.click(f"{card} button.listen", timeout=60_000)
            page.wait_for_function(
                f"() => /listening: ([2-9]|\\d\\d)\\.\\d s received/.test("
                f"document.querySelector('{card} .audio-state').textContent)", timeout=60_000)
            page.click(f"{card} button.listen")
            page.wait_for_function(f"() => document.querySelector('{card} .audio-state')"
                                   ".textContent === 'listen closed'", timeout=30_000)
            start = recorder.samples().size
            box = page.locator(f"{card} button.talk").bounding_box()
            page.mouse.move(box["x"] + 10, box["y"] + 5)
            page.mouse.down()
            try:
                wait_for(lambda: loud_seconds(recorder.samples()[start:], 0.02) > 0.1,
                         "the page's fake microphone at the speaker's monitor", timeout_s=60)
            except AssertionError as exc:
                x = recorder.samples()[start:]
                raise AssertionError(f"{exc}; page: {page.inner_text(card + ' .audio-state')!r}, "
                                     f"{page.get_attribute(card, 'data-voice-packets')} packets "
                                     f"sent; monitor peak {np.abs(x).max() if x.size else 0}") from None
            assert int(page.get_attribute(card, "data-voice-packets") or 0) > 10
            assert page.inner_text(f"{card} .audio-state").startswith("talking"), "ended early"
            page.mouse.up()
            page.wait_for_function(f"() => document.querySelector('{card} .audio-state')"
                                   ".textContent === 'talk closed'", timeout=30_000)
        finally:
            browser.close()


def refusals(log_path) -> list[str]:
    return [line for line in log_path.read_text(errors="replace").splitlines()
            if "voice packet refused" in line]


def test_listen_and_talk_through_the_secured_broker(virtual_audio, make_secure_broker, children,
                                                    tmp_path) -> None:
    dog = f"dog{uuid.uuid4().hex[:6]}"
    broker = make_secure_broker((dog,), ("station", "station2"))
    http_port = free_port()
    station = Station(StationConfig(broker.host, broker.port, tmp_path / "st.db", http_port,
                                    fleet_dir=broker.fleet.root)).start()
    uplink_log = tmp_path / "uplink.log"
    spawn_uplink(children, broker, dog, tmp_path, open(uplink_log, "w"))
    nodes = [NodeProcess("robot_dog.audio.megaphone_node", f"/{dog}", tmp_path / "megaphone.log",
                         amplifier="false"),
             NodeProcess("robot_dog.audio.microphone_node", f"/{dog}", tmp_path / "mic.log")]
    api = TalkApi(http_port, api_token(station.accounts))
    recorder = MonitorRecorder()
    street_done, street = threading.Event(), []
    try:
        # --- listen: the street's 700 Hz tone reaches the station through the dog's microphone --
        body = wait_for(lambda: api.ok(dog, "listen", {"seconds": 30}), "listen accepted",
                        timeout_s=90)
        assert body["result"]["message"] == "listen open for 30 s"

        def play_street() -> None:
            """The street, until the test ends; a stream that fails under load is reopened
            (this feeds the scene, it is not what is tested)."""
            while not street_done.is_set():
                try:
                    out = PcmOutput(devices.STREET_SINK)
                except devices.AudioDeviceError:
                    street_done.wait(0.5)
                    continue
                try:
                    while not street_done.is_set():
                        out.write(tone(700.0, 0.5))
                except devices.AudioDeviceError:
                    pass
                finally:
                    out.close()
        street.append(threading.Thread(target=play_street, daemon=True))
        street[0].start()
        cursor, _ = api.mic(dog, -1)
        heard: list[np.ndarray] = []

        def tone_heard() -> bool:
            nonlocal cursor
            cursor, pcm = api.mic(dog, cursor)
            heard.append(pcm)
            x = np.concatenate(heard)
            return loud_seconds(x, 0.05) > 1.0 and abs(peak_hz(x[-RATE:]) - 700.0) < 10
        wait_for(tone_heard, "the street tone at the station's mic endpoint", timeout_s=60)
        assert station.talk.mic_packets > 50

        # --- talk refused outside a window, and a forged `talk` opens none --------------------
        voice = tone(1000.0, 0.5)
        assert api.voice(dog, voice) == 409  # the station: no talk window is open
        packets = [opus.pack(opus.VoicePacket(i, 0, p)) for i, p in enumerate(encode_all(voice))]
        assert mosquitto_pub(broker, "station2", topics.voice(dog), packets[0]).returncode == 0
        wait_for(lambda: refusals(uplink_log), "the dog to refuse voice outside a talk window")
        assert "no_talk_window" in refusals(uplink_log)[0]
        forged = signing.sign(Ed25519PrivateKey.generate(), dog=dog, verb="talk",
                              args={"seconds": 30}, now=time.time(),
                              issuer="mallory", nonce="forged-talk-nonce-01")
        assert mosquitto_pub(broker, "station2", topics.cmd(dog, "talk"), forged).returncode == 0
        wait_for(lambda: any(c["nonce"] == "forged-talk-nonce-01" and c["code"] == "bad_signature"
                             for c in api.get(f"/api/dogs/{dog}/commands")["commands"]),
                 "the forged talk refused as bad_signature")
        intruder = Link(broker.endpoint("station2"))  # a station credential, straight to the dog
        intruder.start()
        try:
            intruder.wait_connected(30)
            for packet in (packets * 5)[:100]:  # at least 100 refused in a row, logged as such
                intruder.publish(topics.voice(dog), packet, qos=1)
            wait_for(lambda: any("100 in a row" in line for line in refusals(uplink_log)),
                     "the 100th refusal in a row logged")
        finally:
            intruder.stop()
        assert loud_seconds(recorder.samples(), 0.02) < 0.05, "voice played without a window"

        # --- a signed talk window: the station's 1 kHz reaches the speaker's monitor -----------
        assert api.ok(dog, "talk", {"seconds": 20})["result"]["message"] == "talk open for 20 s"
        start = recorder.samples().size

        def voice_played() -> bool:
            api.voice(dog, tone(1000.0, 0.2))
            x = recorder.samples()[start:]
            loud = x[np.abs(x) > 0.02 * 32768]
            return loud_seconds(x, 0.02) > 0.5 and abs(peak_hz(x[-loud.size:]) - 1000.0) < 10
        wait_for(voice_played, "station voice at the speaker's monitor", timeout_s=60,
                 interval_s=0.2)

        # --- closed: refused and logged again --------------------------------------------------
        assert api.ok(dog, "talk", {"seconds": 0})["result"]["message"] == "talk closed"
        assert api.voice(dog, voice) == 409  # the station: the window is closed
        before = len(refusals(uplink_log))
        assert mosquitto_pub(broker, "station2", topics.voice(dog), packets[0]).returncode == 0
        wait_for(lambda: len(refusals(uplink_log)) > before, "voice refused after the window")
        assert "1 in a row" in refusals(uplink_log)[before]

        # --- the viewer page: Listen plays the mic, Talk (held) speaks with Chromium's fake mic --
        station.accounts.add_account(local_admin("test"), "alice", "operator", "alice's password")
        page_talk(http_port, "alice's password", dog, recorder)
    finally:
        street_done.set()
        for thread in street:
            thread.join(timeout=10)  # before the PulseAudio fixture goes
        recorder.stop()
        station.stop()
        for node in nodes:
            node.kill()
