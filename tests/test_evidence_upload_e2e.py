"""Evidence upload end to end, every part real: recorder (PyAV) -> evidence directory ->
UplinkSession's outbox (TLS, the fleet's dog credential) -> Mosquitto -> Station (intake,
object store, SQLite) -> signed `evidence_ack` -> held.json -> retention.

An upload cut by a broker restart (and a restart of the dog's uplink) completes and verifies at
the station; a recording triggered while the broker is down is later held verified; a chunk for
an unknown recording and a replayed chunk, published with the dog's own credential, are refused
and logged; another dog's credential cannot publish into this dog's evidence tree at all
(test_mqtt_secure_broker.py). Waits are for conditions, with generous deadlines.
"""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from robot_dog.bodycam import verify as verify_mod
from robot_dog.bodycam.encoding import VideoSettings
from robot_dog.bodycam.recorder import Recorder, RecorderConfig
from robot_dog.bodycam.retention import RetentionPolicy, to_delete
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import evidence as wire, signing
from robot_dog.station.app import Station, StationConfig
from robot_dog.uplink.evidence_upload import EvidenceUploader, UploadConfig
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from tests import support

pytestmark = pytest.mark.slow
WAIT_S = 120.0
wait_for = partial(support.wait_for, timeout_s=WAIT_S)
W, H, FPS = 320, 240, 25.0


class Dog:
    """The dog's side without ROS: recorder + uplink session with its evidence uploader (as
    uplink_node wires it; pumped at 20 Hz here, 5 Hz there)."""

    def __init__(self, broker, tmp_path, rate_bytes_s: float) -> None:
        self.broker, self.tmp_path, self.rate = broker, tmp_path, rate_bytes_s
        self.root = tmp_path / "dog-evidence"
        self.key = signing.load_signing_key(broker.fleet.paths.dog_evidence_key("dog1"))
        self.t = 1_800_000_000.0
        self.store = EvidenceStore(self.root, "DOG-1", self.key, lambda: self.t)
        self.recorder = Recorder(RecorderConfig(pre_event_s=0.0, post_event_s=0.0, segment_s=1.0),
                                 VideoSettings(W, H, FPS), self.store, RetentionPolicy(), officer_id="9",
                                 clock=lambda: self.t)
        self.rng = np.random.default_rng(5)
        self.session: UplinkSession | None = None

    def record(self, seconds: float, trigger: str | None = None) -> None:
        if trigger:
            self.recorder.set_condition(trigger, True)
        else:
            self.recorder.start("test", lock=False, source="officer")
        for _ in range(round(seconds * FPS)):
            self.t += 1 / FPS
            self.recorder.on_frame(self.rng.integers(0, 255, (H, W, 3), np.uint8), self.t)
        if trigger:
            self.recorder.set_condition(trigger, False)
        else:
            self.recorder.stop("officer")
        self.t += 1 / FPS
        self.recorder.on_frame(self.rng.integers(0, 255, (H, W, 3), np.uint8), self.t)

    def start_uplink(self) -> None:
        paths = self.broker.fleet.paths
        cfg = UplinkConfig(dog="dog1", host=self.broker.host, port=self.broker.port,
                           password=self.broker.password("dog1"), ca_file=paths.dog_ca_cert("dog1"),
                           command_public_key=paths.dog_public_key("dog1"),
                           state_dir=self.tmp_path / "dog1-state", reconnect_s=(0.5, 2.0))
        self.session = UplinkSession(cfg)
        self.session.upload_evidence(EvidenceUploader(
            self.root, "dog1", cfg.state_dir / "evidence-upload.json",
            UploadConfig(rate_bytes_s=self.rate, resend_after_s=8.0, scan_s=0.2)), period_s=0.05)
        self.session.start()

    def stop_uplink(self) -> None:
        if self.session is not None:
            self.session.stop()

    def pending(self) -> list[tuple[str, int]]:
        out = []
        for rec in sorted(p.name for p in (self.root / "recordings").iterdir()):
            manifest = json.loads((self.root / "recordings" / rec / "manifest.json").read_bytes())
            held = set(self.store.held_seqs(rec))
            out += [(rec, e["seq"]) for e in manifest["entries"] if e["seq"] not in held]
        return out


@pytest.fixture
def station(secure_broker, tmp_path):
    station = Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                    fleet_dir=secure_broker.fleet.root,
                                    evidence_dir=tmp_path / "station-evidence")).start()
    yield station
    station.stop()


@pytest.fixture
def dog(secure_broker, tmp_path):
    dog = Dog(secure_broker, tmp_path, rate_bytes_s=300_000.0)
    yield dog
    dog.stop_uplink()
    dog.recorder.close()


def all_verified(station, dog) -> bool:
    station.storage.flush()
    recordings = station.storage.evidence_recordings("dog1")
    return bool(recordings) and not dog.pending() and all(
        r["verified"] == r["items"] > 0 for r in recordings)


def test_an_upload_cut_by_a_broker_restart_completes_and_verifies(secure_broker, station, dog, tmp_path):
    dog.record(4.0)
    items = dog.pending()
    assert len(items) >= 4
    assert to_delete(dog.store.recordings(), RetentionPolicy(quota_bytes=1)) == []
    dog.start_uplink()
    wait_for(lambda: station.received["evidence"] >= 3, "the first chunks at the station")
    assert dog.pending(), "the cap keeps the upload going for seconds"
    secure_broker.stop()
    wait_for(lambda: not dog.session.connected, "the dog to notice the outage")
    dog.stop_uplink()                 # the dog's uplink restarts during the outage too
    dog.start_uplink()
    secure_broker.start()
    wait_for(lambda: all_verified(station, dog), "every item held verified")
    # The station's copy verifies on its own with the fleet's key (chain and signature).
    public = signing.load_verify_key(secure_broker.fleet.paths.evidence_public_key("dog1"))
    for rec in {rec for rec, _ in items}:
        report = verify_mod.verify(tmp_path / "station-evidence" / "dog1" / rec, public)
        assert report.ok, report.lines()
    # Acknowledged: retention may release the ended recording now, and the audit log says who.
    assert len(to_delete(dog.store.recordings(), RetentionPolicy(quota_bytes=1))) == 1
    audit = [json.loads(line) for line in (dog.root / "audit.log").read_text().splitlines()]
    assert any(a["action"] == "uploaded" and a["actor"] == "station:station" for a in audit)

    # Hostile input with the dog's own credential: refused, dead-lettered, logged.
    dog.stop_uplink()
    rec, seq = items[0]
    entry = next(e for e in dog.store.manifest(rec)["entries"] if e["seq"] == seq)
    body = (dog.root / "recordings" / rec / entry["file"]).read_bytes()[:wire.CHUNK_BYTES]
    attacker = secure_broker.paho("dog1")
    try:
        for payload in (
                wire.chunk_message("dog1", "DOG-1-20300101T000000-999999", 1, entry["file"],
                                   entry["size"], 0, body)[1],
                wire.chunk_message("dog1", rec, seq, entry["file"], entry["size"], 0, body)[1]):
            topic = wire.chunk_message("dog1", rec, seq, entry["file"], entry["size"], 0, body)[0]
            attacker.publish(topic, payload, qos=1).wait_for_publish(30)
    finally:
        attacker.loop_stop()
        attacker.disconnect()
    wait_for(lambda: {"unknown_recording", "replayed_chunk"} <= {
        d["reason"] for d in station.storage.dead_letters()}, "both refusals on record")


def test_a_recording_triggered_during_an_outage_is_later_held_verified(secure_broker, station, dog):
    dog.start_uplink()
    wait_for(lambda: dog.session.connected, "the dog online")
    secure_broker.stop()
    wait_for(lambda: not dog.session.connected, "the dog to notice the outage")
    dog.record(2.0, trigger="estop")
    assert dog.pending()
    secure_broker.start()
    wait_for(lambda: all_verified(station, dog), "the triggered recording held verified")
    listed = station.storage.evidence_recordings("dog1")
    assert [r["reason"] for r in listed] == ["e-stop engaged"]


def test_an_upload_cut_by_a_station_restart_completes(secure_broker, dog, tmp_path):
    def start_station() -> Station:
        return Station(StationConfig(secure_broker.host, secure_broker.port, tmp_path / "st.db", 0,
                                     fleet_dir=secure_broker.fleet.root,
                                     evidence_dir=tmp_path / "station-evidence")).start()
    station = start_station()
    try:
        dog.record(4.0)
        dog.start_uplink()
        wait_for(lambda: station.received["evidence"] >= 3, "the first chunks at the station")
        station.stop()          # its persistent session keeps what arrives meanwhile
        assert dog.pending()
        station = start_station()
        wait_for(lambda: all_verified(station, dog), "every item held verified after the restart")
    finally:
        station.stop()
