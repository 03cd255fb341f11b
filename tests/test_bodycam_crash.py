"""SIGKILL in the middle of a recording: every closed segment stays valid and verifiable, the
open one plays up to its last fragment (ffprobe decodes it), and a restart seals it and resumes
the chain."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig
from robot_dog.bodycam.retention import RetentionPolicy
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.bodycam.verify import verify
from robot_dog.mqtt import signing
from tests.support import wait_for

pytestmark = pytest.mark.slow

# A recording process as the node runs it: the recorder on its own thread, frames from the
# test scene at 25 fps of wall-clock time, 3 s segments of 1 s fragments (one per keyframe);
# it never stops by itself.
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from robot_dog.bodycam.encoding import VideoSettings
    from robot_dog.bodycam.recorder import Recorder, RecorderConfig
    from robot_dog.bodycam.recorder_thread import RecorderThread
    from robot_dog.bodycam.retention import RetentionPolicy
    from robot_dog.bodycam.scene import Overlay, TestScene
    from robot_dog.bodycam.store import EvidenceStore
    from robot_dog.mqtt import signing

    root, key = Path(sys.argv[1]), signing.load_signing_key(sys.argv[2])
    make = lambda: Recorder(RecorderConfig(pre_event_s=1.0, post_event_s=5.0, segment_s=3.0),
                            VideoSettings(320, 240, 25.0), EvidenceStore(root, "DOG-K", key),
                            RetentionPolicy(), officer_id="9")
    worker = RecorderThread(make)
    scene, overlay = TestScene(320, 240), Overlay("DOG-K", "9")
    worker.call(lambda r: r.start("crash test", lock=True, source="officer")).result(60)
    while True:
        now = time.time()
        worker.put_frame(scene.render(now, overlay), now)
        time.sleep(0.04)
""")


def probe_frames(path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60)
    text = out.stdout.strip()
    return int(text) if text.isdigit() else 0     # N/A: not one whole fragment yet


def test_sigkill_loses_no_closed_segment_and_a_restart_resumes_the_chain(tmp_path):
    root, key_path = tmp_path / "evidence", tmp_path / "evidence.key"
    key = signing.new_key()
    key_path.write_bytes(signing.private_pem(key))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(key_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def closed_and_open():
            manifests = list(root.glob("recordings/*/manifest.json"))
            if not manifests:
                return None
            entries = json.loads(manifests[0].read_text())["entries"]
            listed = {e["file"] for e in entries}
            open_files = [p for p in manifests[0].parent.glob("*.mp4") if p.name not in listed]
            # The open segment has a whole fragment and is at least 1 s from being closed.
            if len(entries) >= 2 and open_files and 0 < probe_frames(open_files[0]) <= 50:
                return entries, open_files[0]
            return None
        entries, open_file = wait_for(closed_and_open, "two closed segments and an open one",
                                      timeout_s=120)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    # Before any restart: every closed segment is intact and the open one plays.
    report = verify(root, key.public_key())
    rec = report.recordings[0]
    assert rec.signature == "valid"
    verdicts = dict(rec.items)
    for entry in entries:
        assert verdicts[entry["file"]] == "intact"
        assert probe_frames(root / "recordings" / rec.recording / entry["file"]) > 0
    assert verdicts[open_file.name].startswith("unlisted")
    assert probe_frames(open_file) > 0

    # A restart seals the cut file as it is and the chain goes on from it.
    store = EvidenceStore(root, "DOG-K", key)
    assert store.recover() == [rec.recording]
    recorder = Recorder(RecorderConfig(pre_event_s=0.0, post_event_s=0.0), VideoSettings(320, 240, 25.0),
                        store, RetentionPolicy(), officer_id="9")
    try:
        snap = recorder.snapshot(b"\xff\xd8 not really a jpeg \xff\xd9", time.time(), "after restart",
                                 "officer")
    finally:
        recorder.close()
    report = verify(root, key.public_key())
    assert report.ok, report.lines()
    items = dict(next(r for r in report.recordings if r.recording == rec.recording).items)
    assert items[open_file.name] == "intact (sealed after a crash)"
    first = json.loads((root / "recordings" / rec.recording / "manifest.json").read_text())
    assert first["locked"] and first["ended_at"] is not None
    assert snap["prev"] == first["entries"][-1]["hash"]
    audit = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    assert ("recovered", rec.recording) in [(a["action"], a["recording"]) for a in audit]
