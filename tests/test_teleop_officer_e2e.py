"""A handheld paired to a named officer, every hop real: `robot-dog teleop pair --officer 王警官`
opens the code, a scripted phone (the page's WebSocket protocol over the fleet-CA TLS) pairs
with it, and teleop_node -> safety_node, payload_node (virtual MCU on a pty) and bodycam_node do
what it asks. The officer's name shows in the dog's command log, in the safety node's e-stop, on
`teleop/events` for the station, and burned into the bodycam's frames (read back from the
pixels of the overlay's officer line); a revoked phone is closed and its token no longer resumes,
the officer field goes back to none, and a task for a dog with no officer is refused."""
from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
from robot_dog_interfaces.msg import EstopState, RecorderStatus
from robot_dog_interfaces.srv import AssignTask
from sensor_msgs.msg import Image
from std_msgs.msg import String

from robot_dog import fleet
from robot_dog.bodycam.scene import OFFICER_LINE, Overlay, TestScene as Scene, line_rows
from robot_dog.ros import dds_env, qos
from tests import support
from tests.test_teleop_handheld_e2e import dog, pairing_code  # noqa: F401 (the fixture)
from tests.test_teleop_officers import close_code
from tests.test_teleop_server import Phone

pytestmark = pytest.mark.slow
wait_for = partial(support.wait_for, timeout_s=90.0)
WANG = "王警官"
WIDTH, HEIGHT = 320, 240          # the `dog` fixture's bodycam


def officer_line(officer: str) -> np.ndarray:
    """The bodycam's officer line as it must look: the test scene's bars under the overlay (the
    moving disc never reaches these rows), drawn by the overlay's own code."""
    frame = Scene(WIDTH, HEIGHT).render(0.0, Overlay("DOG-0001", officer))
    return frame[line_rows(HEIGHT, OFFICER_LINE)]


def burned_in(probe, officer: str, since: float = 0.0) -> bool:
    """A bodycam frame since `since` whose officer line is exactly `officer`'s."""
    want = officer_line(officer)
    for msg in probe.messages("bodycam/image_raw", since)[-5:]:
        frame = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
        if np.array_equal(frame[line_rows(HEIGHT, OFFICER_LINE)], want):
            return True
    return False


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robot_dog.cli", "teleop", *args],
                          env=dds_env.environ(), capture_output=True, text=True, timeout=60)


def events(probe, type_: str) -> list[dict]:
    docs = [json.loads(m.data) for m in probe.messages("teleop/events")]
    return [d for d in docs if d["type"] == type_]


def test_officer_in_logs_events_and_bodycam_then_a_revoked_phone_is_out(
        dog, dog_namespace, ros_probe, tmp_path):
    port, teleop = dog
    probe = ros_probe
    probe.record(Image, "bodycam/image_raw", qos.SENSOR)
    probe.record(String, "teleop/officer", qos.LATCHED)
    probe.record(String, "teleop/events", qos.EVENTS)
    probe.record(EstopState, "estop", qos.STATE)
    probe.record(RecorderStatus, "bodycam/status", qos.STATE)
    recorder_officer = lambda: [m.officer_id for m in probe.messages("bodycam/status")][-1:]
    wait_for(lambda: "handheld page on https://" in teleop.output(), "the handheld server")
    assert officer_line(WANG).shape[0] > 10 and not np.array_equal(officer_line(WANG),
                                                                    officer_line("000000"))
    wait_for(lambda: burned_in(probe, "000000"), "no officer on the bodycam before pairing")

    # --- a task for a dog with no officer is refused with its code
    refused = probe.call(AssignTask, "teleop/task", incident="inc-1", what="east gate",
                         frame="odom", x=1.0, y=2.0, sender="dispatcher", dog="dog1")
    assert (refused.accepted, refused.code) == (False, "no_officer")

    # --- bad names never get a code
    bad = cli("pair", "--ns", dog_namespace, "--officer", "a\tb")
    assert bad.returncode == 1 and "bad_officer" in bad.stderr and "pairing code" not in bad.stdout

    # --- paired to 王警官: commands carry the name
    code = pairing_code(dog_namespace, WANG)
    ctx = ssl.create_default_context(cafile=str(fleet.load_fleet(tmp_path / "fleet").paths.ca_cert))
    server = SimpleNamespace(port=port)
    phone = Phone(server, ctx)
    phone.send("pair", code=code)
    token = phone.expect("paired")["token"]
    wait_for(lambda: [m.data for m in probe.messages("teleop/officer")][-1:] == [WANG],
             "teleop/officer names the officer")
    phone.send("estop")
    assert phone.expect("result")["ok"]
    # the e-stop's reason (the station's e-stop event) says who pressed it
    wait_for(lambda: [m for m in probe.messages("estop") if m.engaged and
                      f"handheld: handheld e-stop button (officer {WANG})" in m.reason],
             "the e-stop naming the officer")
    phone.send("light", on=True)
    phone.expect("result")
    wait_for(lambda: f"handheld light by officer {WANG}" in teleop.output(), "the command log")
    log = teleop.output()
    assert f"handheld estop by officer {WANG}: ok" in log
    assert f"paired: officer {WANG}" in log
    wait_for(lambda: {e["data"]["kind"] for e in events(probe, "handheld")} >= {"paired", "estop", "light"},
             "the handheld actions on teleop/events")
    assert {e["data"]["officer"] for e in events(probe, "handheld")} == {WANG}
    safety_log = (tmp_path / "safety.log").read_text(errors="replace")
    assert WANG in safety_log, safety_log[-2000:]
    paired_at = time.monotonic()
    wait_for(lambda: burned_in(probe, WANG, paired_at), "王警官 burned into a bodycam frame")
    wait_for(lambda: recorder_officer() == [WANG], "the recorder's officer")

    # --- the phone is lost: revoked on the dog; its token no longer resumes
    revoked = cli("revoke", "--ns", dog_namespace)
    assert revoked.returncode == 0 and WANG in revoked.stdout, revoked.stderr
    assert close_code(phone) == 4004
    back = Phone(server, ctx)
    back.send("hello", token=token)
    assert back.expect("refused")["code"] == "not_paired"
    wait_for(lambda: [m.data for m in probe.messages("teleop/officer")][-1:] == [""],
             "the officer field back to none")
    revoked_at = time.monotonic()
    wait_for(lambda: burned_in(probe, "000000", revoked_at), "no officer on the bodycam again")
    wait_for(lambda: recorder_officer() == ["000000"], "no officer at the recorder")
    back.ws.close()
