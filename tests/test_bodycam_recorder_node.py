"""The recorder inside bodycam_node, in a real rclpy context, driven as a client would: the
`bodycam/record` and `bodycam/snapshot` services, `bodycam/status`, `/diagnostics`, an e-stop
as a trigger; the node's executor keeps serving while the recorder works (async callbacks)."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from robot_dog.bodycam.verify import verify
from robot_dog.ros import qos
from std_msgs.msg import Bool

from robot_dog_interfaces.msg import AudioChunk, EstopState, PoliceLightState, RecorderStatus
from robot_dog_interfaces.srv import Record, Snapshot
from tests.fixtures.ros_nodes import answer

pytestmark = pytest.mark.slow


@contextmanager
def running_bodycam(namespace, **params):
    """bodycam_node with `params` and a client node on one executor."""
    from robot_dog.bodycam.node import BodycamNode
    context = rclpy.Context()
    rclpy.init(context=context)
    camera = BodycamNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter(name, value=value) for name, value in params.items()])
    client = rclpy.create_node("client", namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(camera)
    executor.add_node(client)

    def spin_until(predicate, timeout_s=60.0):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.05)
        return predicate()

    def call(srv_type, name, **fields):
        cli = client.create_client(srv_type, name)
        assert spin_until(cli.service_is_ready), f"{name} not served"
        return answer(cli, srv_type.Request(**fields), spin_until, 60.0)

    statuses: list[RecorderStatus] = []
    client.create_subscription(RecorderStatus, "bodycam/status", statuses.append, qos.STATE)
    try:
        yield camera, client, spin_until, call, statuses
    finally:
        executor.shutdown()
        camera.close()
        camera.destroy_node()
        client.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture
def ros(ros_namespace, tmp_path):
    with running_bodycam(ros_namespace, width=320, height=240, fps=20.0,
                         evidence_dir=str(tmp_path / "evidence"), pre_event_s=1.0, post_event_s=0.5,
                         segment_s=2.0, device_id="DOG-N", officer_id="314159") as parts:
        yield (*parts, tmp_path / "evidence")


def test_record_lock_remote_stop_refused_and_snapshot(ros):
    camera, client, spin_until, call, statuses, root = ros
    assert spin_until(lambda: statuses and statuses[-1].state == "buffering"), "recorder not buffering"
    assert statuses[-1].device_id == "DOG-N" and statuses[-1].officer_id == "314159"
    started = call(Record, "bodycam/record", start=True, reason="suspect fled", lock=True, source="handheld")
    assert (started.accepted, started.code) == (True, "ok") and started.recording_id
    assert spin_until(lambda: statuses[-1].state == "recording" and statuses[-1].locked)
    snap = call(Snapshot, "bodycam/snapshot", reason="plate", source="handheld")
    assert (snap.accepted, snap.code) == (True, "ok") and Path(snap.path).is_file()
    assert hashlib.sha256(Path(snap.path).read_bytes()).hexdigest() == snap.sha256
    refused = call(Record, "bodycam/record", start=False, reason="", source="station")
    assert (refused.accepted, refused.code) == (False, "locked") and refused.message
    # Let at least one segment close (2 s of frames), then the officer stops.
    assert spin_until(lambda: statuses[-1].segment_index >= 2), "no closed segment"
    stopped = call(Record, "bodycam/record", start=False, reason="done", source="handheld")
    assert stopped.accepted and stopped.recording_id == started.recording_id
    assert spin_until(lambda: statuses[-1].state == "buffering")
    report = verify(root)
    assert report.ok, report.lines()
    kinds = [name.split("-")[1] for name, _ in report.recordings[0].items]
    assert "snapshot.jpg" in kinds and kinds.count("segment.mp4") >= 2
    assert statuses[-1].error == ""


def test_an_estop_starts_a_recording_with_the_microphone_and_diagnostics_report_it(ros):
    camera, client, spin_until, call, statuses, root = ros
    # The microphone: 16 kHz mono chunks of 40 ms, a 440 Hz tone.
    mic = client.create_publisher(AudioChunk, "microphone/audio_blocks", qos.SENSOR)
    sent = [0]

    def chunk():
        n = np.arange(640) + sent[0] * 640
        samples = (np.sin(2 * np.pi * 440 * n / 16000) * 8000).astype(np.int16)
        mic.publish(AudioChunk(sample_rate=16000, channels=1, sequence=sent[0], samples=samples.tolist()))
        sent[0] += 1
    client.create_timer(0.04, chunk)
    diagnostics: list[DiagnosticArray] = []
    client.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, qos.TELEMETRY)
    estop = client.create_publisher(EstopState, "estop", qos.STATE)
    assert spin_until(lambda: statuses and statuses[-1].state == "buffering")
    estop.publish(EstopState(engaged=True, reason="test"))
    assert spin_until(lambda: statuses[-1].state == "recording" and "estop" in statuses[-1].triggers)
    assert statuses[-1].reason == "e-stop engaged"
    ours = lambda: [s for d in diagnostics for s in d.status if s.name == "bodycam: recorder"]
    assert spin_until(lambda: any(s.message == "recording" for s in ours()))
    assert spin_until(lambda: statuses[-1].segment_index >= 1), "no closed segment"
    estop.publish(EstopState(engaged=False, reason=""))
    assert spin_until(lambda: statuses[-1].state == "buffering"), "post-event time never ended"
    assert verify(root).ok
    first = sorted(root.glob("recordings/*/*-segment.mp4"))[0]
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                              str(first)], capture_output=True, text=True, timeout=60).stdout.split()
    assert streams == ["h264", "aac"]


def test_the_siren_and_the_police_light_are_triggers(ros):
    camera, client, spin_until, call, statuses, root = ros
    siren = client.create_publisher(Bool, "megaphone/siren_active", qos.STATE)
    light = client.create_publisher(PoliceLightState, "police_light/state", qos.STATE)
    assert spin_until(lambda: statuses and statuses[-1].state == "buffering")
    siren.publish(Bool(data=True))
    light.publish(PoliceLightState(pattern="alternate"))
    assert spin_until(lambda: set(statuses[-1].triggers) == {"siren", "police_light"})
    siren.publish(Bool(data=False))
    assert spin_until(lambda: statuses[-1].triggers == ["police_light"])
    light.publish(PoliceLightState(pattern="off"))
    assert spin_until(lambda: statuses[-1].state == "buffering"), "post-event time never ended"


def test_a_full_disk_is_an_error_in_diagnostics_and_continuous_footage_is_refused(ros_namespace, tmp_path):
    # Asking to keep a petabyte free makes any disk "full".
    with running_bodycam(ros_namespace, width=160, height=120, evidence_dir=str(tmp_path / "evidence"),
                         continuous=True, min_free_mb=10 ** 9) as (_cam, client, spin_until, _call, statuses):
        diagnostics: list[DiagnosticArray] = []
        client.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, qos.TELEMETRY)
        ours = lambda: [s for d in diagnostics for s in d.status if s.name == "bodycam: recorder"]
        assert spin_until(lambda: any(s.message.startswith("storage full") for s in ours()))
        entry = ours()[-1]
        assert entry.level == DiagnosticStatus.ERROR
        assert statuses[-1].storage == "full" and statuses[-1].state != "recording"
    assert not list((tmp_path / "evidence").glob("recordings/*"))


def test_recorder_off_without_an_evidence_dir(ros_namespace):
    with running_bodycam(ros_namespace, width=160, height=120) as (_cam, _cli, spin_until, call, statuses):
        answer = call(Record, "bodycam/record", start=True, reason="x", source="officer")
        assert (answer.accepted, answer.code) == (False, "disabled")
        still = call(Snapshot, "bodycam/snapshot", reason="x", source="officer")
        assert not still.accepted and still.code in ("no_frame", "disabled")
        assert spin_until(lambda: statuses and statuses[-1].state == "disabled")


def test_a_missing_camera_is_recorded_as_no_signal(ros_namespace, tmp_path):
    root = tmp_path / "evidence"
    with running_bodycam(ros_namespace, width=160, height=120, source="/dev/video_missing",
                         evidence_dir=str(root), pre_event_s=0.0, post_event_s=0.0) as parts:
        _cam, _cli, spin_until, call, statuses = parts
        assert call(Record, "bodycam/record", start=True, reason="no camera", source="officer").accepted
        assert spin_until(lambda: statuses and statuses[-1].state == "recording")
        assert spin_until(lambda: list(root.glob("recordings/*/*-segment.mp4"))), "no segment opened"
        assert call(Record, "bodycam/record", start=False, source="officer").accepted
        assert spin_until(lambda: statuses[-1].segment_index >= 1)
    assert verify(root).ok
    capture = cv2.VideoCapture(str(sorted(root.glob("recordings/*/*-segment.mp4"))[0]))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame[60:, :].mean() < 40      # black NO SIGNAL frame under the overlay band


def test_the_stations_copy_of_the_fleet_key_verifies_the_dogs_recording(ros_namespace, tmp_path):
    """Fleet -> dog -> examiner, with the `robot-dog` command as a user runs it."""
    from robot_dog import fleet
    made = fleet.init_fleet(tmp_path / "fleet", ["dog1"], ["station"], fleet.BrokerSettings(port=18883))
    root = tmp_path / "evidence"
    with running_bodycam(ros_namespace, width=160, height=120, evidence_dir=str(root),
                         evidence_key=str(made.paths.dog_evidence_key("dog1")),
                         pre_event_s=1.0, post_event_s=0.0) as (_cam, _cli, spin_until, call, statuses):
        assert spin_until(lambda: statuses and statuses[-1].state == "buffering")
        assert call(Record, "bodycam/record", start=True, reason="fleet key", source="officer").accepted
        assert spin_until(lambda: list(root.glob("recordings/*/*-segment.mp4")))
        assert call(Record, "bodycam/record", start=False, source="officer").accepted
        assert spin_until(lambda: statuses[-1].segment_index >= 1)
    station_key = made.paths.evidence_public_key("dog1")
    command = [sys.executable, "-m", "robot_dog.cli", "evidence"]
    ok = subprocess.run([*command, "verify", str(root), "--key", str(station_key)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "signature valid" in ok.stdout, ok.stdout + ok.stderr
    case = tmp_path / "case.tar"
    exported = subprocess.run([*command, "export", str(root), "--out", str(case), "--actor", "li",
                               "--reason", "case 1"], capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    again = subprocess.run([*command, "verify", str(case), "--key", str(station_key)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.rstrip().endswith("RESULT: intact"), again.stdout
