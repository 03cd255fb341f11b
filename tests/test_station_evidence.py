"""The station's evidence API: range parsing by the RFC's rules, listing with verification state,
a case export that `robot-dog evidence verify` accepts with the fleet's key, the HTTP routes as
a client from the docs uses them (curl-like ranges, refusals), and a verified segment playing
and seeking in a real headless Chromium through the range route."""
from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from robot_dog.bodycam import verify as verify_mod
from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig
from robot_dog.bodycam.retention import RetentionPolicy
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import signing, topics
from robot_dog.station import evidence as api
from robot_dog.station.evidence_intake import EvidenceIntake
from robot_dog.station.object_store import DirectoryStore
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp
from robot_dog.uplink.evidence_upload import EvidenceUploader, UploadConfig
from tests.fixtures.accounts import api_token

W, H, FPS = 320, 240, 25.0


@pytest.mark.parametrize("header, size, expected", [
    (None, 100, None), ("", 100, None), ("bytes=0-", 100, (0, 99)), ("bytes=0-0", 100, (0, 0)),
    ("bytes=10-19", 100, (10, 19)), ("bytes=90-200", 100, (90, 99)), ("bytes=-10", 100, (90, 99)),
    ("bytes=-500", 100, (0, 99)), ("bytes=0-1,5-6", 100, None), ("items=0-1", 100, None),
    ("bytes=-", 100, None),
])
def test_parse_range(header, size, expected):
    assert api.parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0", "bytes=5-4"])
def test_unsatisfiable_ranges_are_416(header):
    with pytest.raises(api.EvidenceApiError) as info:
        api.parse_range(header, 100)
    assert info.value.status == 416 and info.value.headers["Content-Range"] == "bytes */100"


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory):
    """A 2 s recording (1 s segments, smooth frames that play) uploaded through the cores into a
    station's object store and SQLite."""
    tmp = tmp_path_factory.mktemp("station-evidence")
    key = signing.new_key()
    now = [1_800_000_000.0]
    store = EvidenceStore(tmp / "dog", "DOG-S", key, lambda: now[0])
    recorder = Recorder(RecorderConfig(pre_event_s=0.0, post_event_s=0.0, segment_s=1.0),
                        VideoSettings(W, H, FPS), store, RetentionPolicy(), officer_id="3",
                        clock=lambda: now[0])
    recorder.start("api test", lock=False, source="officer")
    for i in range(int(2 * FPS) + 1):
        now[0] += 1 / FPS
        frame = np.zeros((H, W, 3), np.uint8)
        frame[:, (i * 6) % W:(i * 6) % W + 20] = 255
        recorder.on_frame(frame, now[0])
    recorder.stop("officer")
    recorder.close()
    objects = DirectoryStore(tmp / "objects")
    intake = EvidenceIntake(objects, lambda dog: key.public_key())
    storage = Storage(tmp / "st.db")
    uploader = EvidenceUploader(tmp / "dog", "dog1", tmp / "up.json", UploadConfig(rate_bytes_s=1e7, scan_s=0.0))
    for _ in range(100):
        messages = uploader.tick({})
        if not messages and uploader.backlog()["items"] == 0:
            break
        for topic, payload in messages:
            t = topics.parse(topic)
            outcome = intake.handle(t.dog, t.sub, payload, now[0])
            for row in outcome.rows:
                storage.put(row)
            if outcome.ack:
                uploader.on_ack(outcome.ack.recording, list(outcome.ack.items), "station:test")
    storage.flush()
    yield storage, objects, key, tmp
    storage.close()


def test_listing_and_export(uploaded, tmp_path):
    storage, objects, key, _ = uploaded
    listed = api.list_recordings(storage, "dog1")
    assert len(listed) == 1 and listed[0]["state"] == "verified" and listed[0]["items"] >= 2
    assert api.list_recordings(storage, "dog1", until="1") == []
    with pytest.raises(api.EvidenceApiError):
        api.list_recordings(storage, "dog1", since="yesterday")
    rec = listed[0]["recording"]
    data = api.export_case(storage, objects, "dog1", [rec], signing.public_pem(key.public_key()),
                           "inspector", "case 7")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path, filter="data")
    report = verify_mod.verify(tmp_path / "case", key.public_key())
    assert report.ok, report.lines()
    # Another dog's key does not verify it; an unknown recording is refused.
    assert not verify_mod.verify(tmp_path / "case", signing.new_key().public_key()).ok
    with pytest.raises(api.EvidenceApiError) as info:
        api.export_case(storage, objects, "dog1", ["no-such"], b"", "x", "y")
    assert info.value.status == 404


@pytest.fixture
def http(uploaded):
    storage, objects, key, _ = uploaded
    server = StationHttp(storage, FrameRelay(), port=0,
                         evidence=(objects, lambda dog: signing.public_pem(key.public_key())))
    server.token = api_token(server.accounts)   # an admin's: evidence export is theirs
    server.start()
    yield server, storage
    server.stop()


def get(server, path, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}",
                                     headers={"Authorization": f"Bearer {server.token}",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()   # names: any case
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_http_routes(http):
    server, storage = http
    status, _, body = get(server, "/api/dogs/dog1/evidence")
    recording = json.loads(body)["recordings"][0]
    item = recording["files"][0]
    path = f"/api/dogs/dog1/evidence/{recording['recording']}/{item['file']}"
    status, headers, whole = get(server, path)
    assert status == 200 and headers["Content-Type"] == "video/mp4" and len(whole) == item["size"]
    status, headers, part = get(server, path, {"Range": "bytes=100-199"})
    assert status == 206 and part == whole[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{item['size']}"
    assert get(server, path, {"Range": f"bytes={item['size']}-"})[0] == 416
    assert get(server, f"/api/dogs/dog1/evidence/{recording['recording']}/999999-segment.mp4")[0] == 404
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}")   # no login
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 401


@pytest.mark.slow
def test_a_segment_plays_and_seeks_in_chromium(http, browser_page):
    server, storage = http
    recording = storage.evidence_recordings("dog1")[0]["recording"]
    item = storage.evidence_items("dog1", recording)[0]
    url = f"http://127.0.0.1:{server.port}/api/dogs/dog1/evidence/{recording}/{item['file']}"
    page = browser_page
    page.context.set_extra_http_headers({"Authorization": f"Bearer {server.token}"})
    page.set_content(f'<video id="v" preload="auto" muted src="{url}"></video>')
    result = page.evaluate("""() => new Promise((resolve) => {
        const v = document.getElementById('v');
        const done = (what) => resolve({what, duration: v.duration, error: v.error && v.error.code});
        if (v.readyState >= 3) return done('canplay');
        v.addEventListener('canplay', () => done('canplay'), {once: true});
        v.addEventListener('error', () => done('error'), {once: true});
        setTimeout(() => done('timeout'), 60000);
    })""")
    assert result["what"] == "canplay", result
    assert result["duration"] > 0.5, result
    seeked = page.evaluate("""() => new Promise((resolve) => {
        const v = document.getElementById('v');
        v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
        v.currentTime = 0.6;
        setTimeout(() => resolve(-1), 60000);
    })""")
    assert seeked > 0.5
