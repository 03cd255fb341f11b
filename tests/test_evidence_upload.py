"""Evidence upload, dog and station cores together on real recordings (no broker here; the
end-to-end runs through Mosquitto are in test_evidence_upload_e2e.py): every closed item
reaches the station verified and is released only by its acknowledgement; the uploader yields
to telemetry and events, honours its rate cap and resumes after a restart; the station refuses
and names a forged chunk, a replayed one, a chunk for an unknown recording, a manifest signed
with another key, and a payload naming another dog."""
from __future__ import annotations

import json

import pytest

from robot_dog.bodycam.retention import RetentionPolicy, to_delete
from robot_dog.bodycam.store import EvidenceStore
from robot_dog.mqtt import evidence as wire, signing, topics
from robot_dog.mqtt.store_forward import Priority
from robot_dog.station.evidence_intake import EvidenceIntake, EvidenceRefused
from robot_dog.station.object_store import DirectoryStore, ObjectStoreError
from robot_dog.station.storage import EvidenceRecordingRow, Storage
from robot_dog.uplink.evidence_upload import EvidenceUploader, UploadConfig
from tests.fixtures.evidence import EvidenceShape

DOG = "dog1"
#: Two recordings of 1 s segments, 2 s and 1 s, a still in the second (tests/fixtures/evidence.py).
EVIDENCE = EvidenceShape(device="DOG-U", seconds=(2.0, 1.0), seed=2, still=True)


class Clock:
    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


def station(tmp_path, key):
    return EvidenceIntake(DirectoryStore(tmp_path / "station"), lambda d: key.public_key() if d == DOG else None)


def pending_seqs(root):
    out = []
    for directory in sorted((root / "recordings").iterdir()):
        manifest = json.loads((directory / "manifest.json").read_bytes())
        held = set(json.loads((directory / "held.json").read_bytes())) if (directory / "held.json").exists() else set()
        out += [e["seq"] for e in manifest["entries"] if e["seq"] not in held]
    return out


def run(uploader, intake, clock, *, rounds=2000, deliver=lambda topic, payload: True):
    """Drive both cores: tick, deliver what `deliver` lets through, acknowledge what verifies."""
    acks, refusals = [], []
    for _ in range(rounds):
        clock.t += 0.2
        for topic, payload in uploader.tick({}):
            if not deliver(topic, payload):
                continue
            t = topics.parse(topic)
            try:
                outcome = intake.handle(t.dog, t.sub, payload, clock.t)
            except EvidenceRefused as exc:
                refusals.append(exc.reason)
                continue
            if outcome.ack:
                acks.append(outcome.ack)
                uploader.on_ack(outcome.ack.recording, list(outcome.ack.items), "station:test")
        if not pending_seqs(uploader.root) and uploader.backlog()["items"] == 0:
            break
    return acks, refusals


def test_every_item_arrives_verified_and_only_acks_release(evidence, tmp_path):
    root, key = evidence.root, evidence.key
    clock = Clock()
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json",
                                UploadConfig(rate_bytes_s=2e6, scan_s=0.0), clock)
    intake = station(tmp_path, key)
    before = pending_seqs(root)
    assert len(before) >= 4   # three segments and a still
    assert to_delete(EvidenceStore(root, "DOG-U", key).recordings(), RetentionPolicy(quota_bytes=1)) == []
    acks, refusals = run(uploader, intake, clock)
    assert refusals == []
    assert sorted(seq for a in acks for seq, _ in a.items) == before
    assert pending_seqs(root) == []
    # The station holds byte-identical files; retention may now release the ended recordings.
    for directory in (root / "recordings").iterdir():
        for item in directory.glob("*-*.*"):
            if item.suffix in (".mp4", ".jpg"):
                assert (tmp_path / "station" / DOG / directory.name / item.name).read_bytes() == item.read_bytes()
    store = EvidenceStore(root, "DOG-U", key)
    assert len(to_delete(store.recordings(), RetentionPolicy(quota_bytes=1))) == 2
    audit = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    uploaded = [a for a in audit if a["action"] == "uploaded"]
    assert uploaded and all(a["actor"] == "station:test" for a in uploaded)


def test_rows_go_into_the_data_layer(evidence, tmp_path):
    root, key = evidence.root, evidence.key
    clock = Clock()
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json", UploadConfig(rate_bytes_s=2e6, scan_s=0.0), clock)
    intake = station(tmp_path, key)
    storage = Storage(tmp_path / "st.db")
    try:
        rows = []
        original = intake.handle

        def handle(*args):
            outcome = original(*args)
            rows.extend(outcome.rows)
            return outcome
        intake.handle = handle
        run(uploader, intake, clock)
        assert any(isinstance(r, EvidenceRecordingRow) for r in rows)
        for row in rows + rows[:3]:            # redelivered rows change nothing
            storage.put(row)
        storage.flush()
        listed = storage.evidence_recordings(DOG)
        assert len(listed) == 2 and all(r["verified"] == r["items"] > 0 for r in listed)
        items = storage.evidence_items(DOG, listed[-1]["recording"])
        assert items and all(i["state"] == "verified" for i in items)
        assert storage.evidence_recordings(DOG, until=1.0) == []
    finally:
        storage.close()


def test_telemetry_and_events_go_first_and_the_rate_cap_holds(evidence, tmp_path):
    root = evidence.root
    clock = Clock()
    rate = 100_000.0
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json",
                                UploadConfig(rate_bytes_s=rate, queued_max=2, scan_s=0.0), clock)
    assert uploader.tick({Priority.TELEMETRY: 1}) == []
    assert uploader.tick({Priority.EVENT: 3, Priority.EVIDENCE: 0}) == []
    assert uploader.tick({Priority.EVIDENCE: 2}) == []          # its window is full
    sent, start = 0, clock.t
    for _ in range(300):
        clock.t += 0.1
        sent += sum(len(p) for _, p in uploader.tick({}))
    elapsed = clock.t - start
    assert 0.5 * rate * elapsed < sent <= rate * elapsed + wire.CHUNK_BYTES + 2 * 1024


def test_a_restarted_uploader_resumes_where_it_stopped(evidence, tmp_path):
    root = evidence.root
    clock = Clock()
    cfg = UploadConfig(rate_bytes_s=2e6, scan_s=0.0)
    first = EvidenceUploader(root, DOG, tmp_path / "up.json", cfg, clock)
    offsets = []
    for _ in range(3):
        clock.t += 1.0
        for topic, payload in first.tick({}):
            if topic.endswith("/chunk"):
                offsets.append(wire.parse(DOG, "chunk", payload).offset)
    assert offsets[:2] == [0, wire.CHUNK_BYTES]
    again = EvidenceUploader(root, DOG, tmp_path / "up.json", cfg, clock)
    clock.t += 1.0
    chunk = next(wire.parse(DOG, "chunk", p) for t, p in again.tick({}) if t.endswith("/chunk"))
    assert chunk.offset == offsets[-1] + wire.CHUNK_BYTES


def test_an_unacknowledged_item_is_sent_again(evidence, tmp_path):
    root, key = evidence.root, evidence.key
    clock = Clock()
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json",
                                UploadConfig(rate_bytes_s=2e6, scan_s=0.0, resend_after_s=30.0), clock)
    intake = station(tmp_path, key)
    # The first pass is lost on the way (a broker restart): nothing reaches the station.
    lost = run(uploader, intake, clock, rounds=100, deliver=lambda t, p: False)
    assert lost == ([], []) and pending_seqs(root)
    acks, refusals = run(uploader, intake, clock)
    assert pending_seqs(root) == [] and refusals == []


def test_forged_replayed_unknown_and_foreign_chunks_are_refused(evidence, tmp_path):
    root, key = evidence.root, evidence.key
    clock = Clock()
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json", UploadConfig(rate_bytes_s=2e6, scan_s=0.0), clock)
    intake = station(tmp_path, key)
    messages = []
    for _ in range(40):
        clock.t += 1.0
        messages += uploader.tick({})
    manifest_topic, manifest = messages[0]
    assert manifest_topic.endswith("/manifest")
    chunks = [wire.parse(DOG, "chunk", p) for t, p in messages if t.endswith("/chunk")]
    first = chunks[0]

    def refused(part, payload):
        with pytest.raises(EvidenceRefused) as info:
            intake.handle(DOG, part, payload, clock.t)
        return info.value.reason

    # A chunk before any manifest: its recording is unknown here.
    assert refused("chunk", wire.chunk_message(DOG, first.recording, first.seq, first.file, first.size,
                                               0, first.body)[1]) == "unknown_recording"
    # A manifest signed with another key, and one whose entries were edited after signing.
    body = json.loads(wire.parse(DOG, "manifest", manifest).body)
    forged = chain_signed(body, signing.new_key())
    assert refused("manifest", wire.manifest_message(DOG, first.recording, forged)[1]) == "bad_manifest_signature"
    edited = dict(body, entries=[dict(body["entries"][0], size=1)] + body["entries"][1:])
    assert refused("manifest", wire.manifest_message(DOG, first.recording, json.dumps(edited).encode())[1]) \
        == "bad_manifest_signature"
    # A payload naming another dog than its topic.
    other = wire.manifest_message("dog2", first.recording, wire.parse(DOG, "manifest", manifest).body)[1]
    assert refused("manifest", other) == "dog_mismatch"
    intake.handle(DOG, "manifest", manifest, clock.t)
    assert refused("chunk", wire.chunk_message(DOG, "DOG-U-nothing", 1, first.file, first.size, 0,
                                               first.body)[1]) == "unknown_recording"
    assert refused("chunk", wire.chunk_message(DOG, first.recording, 999999, first.file, first.size, 0,
                                               first.body)[1]) == "unknown_item"
    # Forged bytes: the piece does not match the signed manifest's digest once it is complete.
    item = [c for c in chunks if (c.recording, c.seq) == (first.recording, first.seq)]
    flipped = bytes([item[0].body[0] ^ 1]) + item[0].body[1:]
    reasons = []
    for c in item:
        body_ = flipped if c.offset == 0 else c.body
        try:
            intake.handle(DOG, "chunk", wire.chunk_message(DOG, c.recording, c.seq, c.file, c.size,
                                                           c.offset, body_)[1], clock.t)
        except EvidenceRefused as exc:
            reasons.append(exc.reason)
    assert reasons == ["forged_chunk"]
    assert not (tmp_path / "station" / DOG / first.recording / first.file).exists()
    # Sent again honestly, the item completes and is acknowledged; sent once more, its chunks
    # are refused as replayed (the first acknowledged again, for a dog that missed the ack).
    outcomes = [intake.handle(DOG, "chunk", wire.chunk_message(DOG, c.recording, c.seq, c.file, c.size,
                                                               c.offset, c.body)[1], clock.t)
                for c in item]
    assert outcomes[-1].ack is not None and all(o.ack is None for o in outcomes[:-1])
    with pytest.raises(EvidenceRefused) as info:
        intake.handle(DOG, "chunk", wire.chunk_message(DOG, first.recording, first.seq, first.file,
                                                       first.size, 0, first.body)[1], clock.t)
    assert info.value.reason == "replayed_chunk" and info.value.ack is not None
    # An older manifest after a newer one is stale; garbage is malformed, never a crash.
    assert refused("chunk", b"no header") == "evidence_malformed"
    assert refused("chunk", b'{"v":1,"dog":"dog1"}\n' + b"x") == "evidence_malformed"


def chain_signed(manifest, key):
    from robot_dog.bodycam import chain
    return json.dumps(chain.sign_manifest(manifest, key)).encode()


def test_a_wrong_ack_releases_nothing(evidence, tmp_path):
    root = evidence.root
    uploader = EvidenceUploader(root, DOG, tmp_path / "up.json", UploadConfig(scan_s=0.0), Clock())
    uploader.tick({})
    rec = sorted(p.name for p in (root / "recordings").iterdir())[0]
    manifest = json.loads((root / "recordings" / rec / "manifest.json").read_bytes())
    seq = manifest["entries"][0]["seq"]
    from robot_dog.bodycam.store import StoreError
    with pytest.raises(StoreError):
        uploader.on_ack(rec, [(seq, "0" * 64)], "station:mallory")
    assert not (root / "recordings" / rec / "held.json").exists()


def test_object_keys_cannot_leave_the_store(tmp_path):
    objects = DirectoryStore(tmp_path / "objects")
    for key in ("../x", "a/../../x", "/etc/passwd", "a//b", ""):
        with pytest.raises(ObjectStoreError):
            objects.put(key, b"x")
    objects.write_at("d/r/f.mp4", 4, b"tail")
    objects.write_at("d/r/f.mp4", 0, b"head")
    assert objects.read("d/r/f.mp4") == b"headtail"
    assert b"".join(objects.iter_range("d/r/f.mp4", 2, 5)) == b"adta"
