"""Evidence upload beside live video: the upload rate the station receives and verifies, whether
the cap holds, and what the upload costs the live video's latency.

One dog's UplinkSession sends the bodycam test scene (1280x720 JPEG, 15 fps) live; the station
(intake + relay) receives it through Mosquitto on loopback. Phase 1: video only. Phase 2: the
same video while the dog's evidence uploader (its own thread, 5 Hz, as in uplink_node) sends
3 MiB segments of a signed evidence directory capped at `evidence_rate_kbps`. Latency = relay
time - capture time (one process, one clock). Goals: the received upload rate at or under the cap; video p95 in
phase 2 within 1.2x of phase 1.

    ROBOT_DOG_BENCH_UPLOAD_S=10 ROBOT_DOG_BENCH_UPLOAD_KBPS=2000 ./dev.sh bench evidence_upload
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.bench_video_latency import OVERLAY, stamp_of, stamped
from bench.stats import percentile
from robot_dog.bodycam.scene import TestScene, encode_jpeg
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import signing
from robot_dog.mqtt.broker import MosquittoBroker
from robot_dog.station.app import Station, StationConfig
from robot_dog.uplink.evidence_upload import EvidenceUploader, UploadConfig
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from tests.support import free_port

SECONDS = float(os.environ.get("ROBOT_DOG_BENCH_UPLOAD_S", "10"))
KBPS = float(os.environ.get("ROBOT_DOG_BENCH_UPLOAD_KBPS", "2000"))
FPS = 15.0
SEGMENT_BYTES = 3 * 1024 * 1024   # about a 60 s segment at 720p25 CRF 23, veryfast, static scene


def _evidence(root: Path, key: Ed25519PrivateKey, total_bytes: int) -> None:
    store = EvidenceStore(root, "BENCH-1", key)
    rec = store.start_recording(reason="bench", locked=False, officer_id="1", actor="bench",
                                started_at=time.time())
    for _ in range(max(1, total_bytes // SEGMENT_BYTES)):
        path = store.new_item_path(rec, "segment")
        path.write_bytes(os.urandom(SEGMENT_BYTES))
        store.close_item(rec, path, "segment", time.time(), time.time() + 60)
    store.end_recording(rec, "bench", "done")


def _phase(station: Station, dog: UplinkSession, jpeg: bytes,
           uploader: EvidenceUploader | None) -> tuple[list[float], list[tuple[float, int]]]:
    latencies: list[float] = []
    received: list[tuple[float, int]] = []   # (arrival, bytes) of each evidence message
    relay, handle = station.relay.publish, station.intake.handle

    def on_frame(frame):
        latencies.append(time.time() - stamp_of(frame.jpeg))
        relay(frame)

    def on_evidence(dog_id, part, payload, now):
        received.append((time.monotonic(), len(payload)))
        return handle(dog_id, part, payload, now)
    station.relay.publish, station.intake.handle = on_frame, on_evidence
    if uploader is not None:
        dog.upload_evidence(uploader)
    try:
        t_next = time.monotonic()
        end = t_next + SECONDS
        while t_next < end:
            dog.send_frame("bodycam", stamped(jpeg, time.time()))
            t_next += 1.0 / FPS
            time.sleep(max(0.0, t_next - time.monotonic()))
    finally:
        time.sleep(0.5)
        station.relay.publish, station.intake.handle = relay, handle
    return latencies, received


def run() -> dict[str, object]:
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        work = Path(tmp)
        key = signing.new_key()
        (work / "keys").mkdir()
        (work / "keys" / "bdog.pub").write_bytes(signing.public_pem(key.public_key()))
        _evidence(work / "evidence", key, int(KBPS * 125 * SECONDS * 1.5))
        with MosquittoBroker(free_port(), work / "broker") as broker:
            station = Station(StationConfig("127.0.0.1", broker.port, work / "st.db", 0,
                                            evidence_dir=work / "station-evidence",
                                            evidence_keys_dir=work / "keys")).start()
            station.connected.wait(20)
            dog = UplinkSession(UplinkConfig("bdog", port=broker.port, state_dir=work / "state"))
            uploader = EvidenceUploader(work / "evidence", "bdog", work / "state" / "up.json",
                                        UploadConfig(rate_bytes_s=KBPS * 125.0))
            dog.start()
            while not dog.connected:
                time.sleep(0.05)
            jpeg = encode_jpeg(TestScene(1280, 720).render(time.time(), OVERLAY), 80)
            alone, _ = _phase(station, dog, jpeg, None)
            beside, uploaded = _phase(station, dog, jpeg, uploader)
            dog.stop()
            station.stop()
    cap = KBPS * 125.0
    total = sum(n for _, n in uploaded)
    # Steady rate: from the third message on (the first two fill the outbox's evidence window).
    steady = uploaded[2:]
    rate = (sum(n for _, n in steady[1:]) / (steady[-1][0] - steady[0][0])
            if len(steady) > 2 else float("nan"))
    p95_alone, p95_beside = percentile(alone, 0.95) * 1000, percentile(beside, 0.95) * 1000
    out.update({
        "seconds": SECONDS, "cap_kbit_s": KBPS, "jpeg_kb": round(len(jpeg) / 1024, 1),
        "upload_kbit_s_steady": round(rate * 8 / 1000, 1),
        "upload_kbit_s_whole_phase": round(total / SECONDS * 8 / 1000, 1),
        # The bucket holds one chunk and a chunk may overdraw it by one: more than cap * t + two
        # chunks (and the manifest) is a breach.
        "cap_honoured": total <= cap * SECONDS + 2 * (256 * 1024 + 1024) + 64 * 1024,
        "video_p50_ms_alone": round(percentile(alone, 0.5) * 1000, 2),
        "video_p95_ms_alone": round(p95_alone, 2),
        "video_p50_ms_with_upload": round(percentile(beside, 0.5) * 1000, 2),
        "video_p95_ms_with_upload": round(p95_beside, 2),
        "video_p95_ratio": round(p95_beside / p95_alone, 2),
        "frames": f"{len(alone)}/{len(beside)} of {int(SECONDS * FPS)}",
    })
    return out
