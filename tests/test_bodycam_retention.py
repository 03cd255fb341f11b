"""Retention on real files: over quota, only recordings the station holds verified and that are
not locked are deleted, oldest first; locked or unverified footage stays whatever the quota;
the storage state warns, then reports full; a release is audited and verify tells it from a
recording removed by hand."""
from __future__ import annotations

import json
import shutil

import pytest

from robot_dog.bodycam.retention import FULL, LOW, OK, RetentionPolicy, storage_state, to_delete
from robot_dog.bodycam.store import EvidenceStore, RecordingInfo, StoreError
from robot_dog.bodycam.verify import verify
from robot_dog.mqtt import signing

MB = 1024 * 1024


def make_store(tmp_path, clock):
    return EvidenceStore(tmp_path / "evidence", "DOG-R", signing.new_key(), clock)


def add_recording(store, started_at, size, locked=False):
    rec_id = store.start_recording(reason="test", locked=locked, officer_id="1", actor="officer",
                                   started_at=started_at)
    path = store.new_item_path(rec_id, "segment")
    path.write_bytes(bytes([started_at % 251]) * size)
    store.close_item(rec_id, path, "segment", started_at, started_at + 60)
    store.end_recording(rec_id, "officer", "done")
    return rec_id


@pytest.fixture
def store(tmp_path):
    now = [1_800_000_000.0]
    return make_store(tmp_path, lambda: now[0])


def test_only_held_unlocked_recordings_go_oldest_first(store):
    oldest_unverified = add_recording(store, 100, 2 * MB)
    old_locked = add_recording(store, 200, 2 * MB, locked=True)
    held_a = add_recording(store, 300, 2 * MB)
    held_b = add_recording(store, 400, 2 * MB)
    newest = add_recording(store, 500, 2 * MB)
    for rec in (old_locked, held_a, held_b):
        store.mark_held(rec, [e["seq"] for e in store.manifest(rec)["entries"]], "station")
    policy = RetentionPolicy(quota_bytes=7 * MB)
    chosen = to_delete(store.recordings(), policy)
    assert [r.id for r in chosen] == [held_a, held_b]   # 10 MB -> 6 MB: two go, the locked one never
    for rec in chosen:
        store.delete(rec, "quota")
    left = {r.id for r in store.recordings()}
    assert left == {oldest_unverified, old_locked, newest}
    # Still over a tighter quota, nothing more may go: the rest is locked or unverified.
    assert to_delete(store.recordings(), RetentionPolicy(quota_bytes=1 * MB)) == []
    audit = [json.loads(line) for line in (store.root / "audit.log").read_text().splitlines()]
    assert [(a["action"], a["recording"]) for a in audit if a["action"] in ("uploaded", "released")] == [
        ("uploaded", old_locked), ("uploaded", held_a), ("uploaded", held_b),
        ("released", held_a), ("released", held_b)]
    # Verify tells a logged release from a removal: what is left verifies.
    assert verify(store.root).ok, verify(store.root).lines()


def test_partly_held_recording_is_kept(store):
    rec = store.start_recording(reason="t", locked=False, officer_id="1", actor="officer", started_at=1)
    for n in range(2):
        path = store.new_item_path(rec, "segment")
        path.write_bytes(b"x" * MB)
        store.close_item(rec, path, "segment", n, n + 1)
    store.end_recording(rec, "officer", "done")
    store.mark_held(rec, [store.manifest(rec)["entries"][0]["seq"]], "station")
    assert to_delete(store.recordings(), RetentionPolicy(quota_bytes=1)) == []


def test_delete_refuses_what_retention_must_keep(store):
    rec = add_recording(store, 100, MB)
    info = store.recordings()[0]
    for bad in (info, RecordingInfo(rec, 100, MB, locked=True, held=True, open=False),
                RecordingInfo(rec, 100, MB, locked=False, held=True, open=True)):
        with pytest.raises(StoreError):
            store.delete(bad, "quota")
    assert (store.recordings_dir / rec).is_dir()


def test_mark_held_refuses_unknown_items(store):
    rec = add_recording(store, 100, MB)
    with pytest.raises(StoreError):
        store.mark_held("no-such-recording", [1], "station")
    with pytest.raises(StoreError):
        store.mark_held(rec, [99], "station")


def test_storage_state_warns_then_fills():
    policy = RetentionPolicy(quota_bytes=100 * MB, warn_fraction=0.9, min_free_bytes=50 * MB)
    assert storage_state(10 * MB, 1000 * MB, policy) == OK
    assert storage_state(90 * MB, 1000 * MB, policy) == LOW
    assert storage_state(10 * MB, 40 * MB, policy) == LOW       # the disk, not the quota
    assert storage_state(100 * MB, 1000 * MB, policy) == FULL
    assert storage_state(10 * MB, 20 * MB, policy) == FULL


def test_a_removed_recording_is_not_a_release(store):
    first = add_recording(store, 100, MB)
    add_recording(store, 200, MB)
    shutil.rmtree(store.recordings_dir / first)
    report = verify(store.root)
    assert not report.ok and any("chain gap" in p for p in report.problems)


def test_a_corrupt_manifest_is_audited_kept_and_recording_goes_on(store, tmp_path):
    damaged = add_recording(store, 100, MB)
    (store.recordings_dir / damaged / "manifest.json").write_text("{ not json")
    again = make_store(tmp_path, lambda: 1_800_000_100.0)     # a restart finds it
    assert damaged not in {r.id for r in again.recordings()}   # so retention cannot pick it
    fresh = add_recording(again, 200, MB)
    assert (again.recordings_dir / damaged).is_dir()
    audit = [json.loads(line) for line in (again.root / "audit.log").read_text().splitlines()]
    assert ("manifest_unreadable", damaged) in [(a["action"], a["recording"]) for a in audit]
    report = verify(again.root)
    assert any("manifest unreadable or corrupt" in p for r in report.recordings for p in r.problems)
    assert any(r.recording == fresh and r.items == [(r.items[0][0], "intact")] for r in report.recordings)


def test_two_recordings_in_one_second_with_nothing_in_them(store):
    first = store.start_recording(reason="a", locked=False, officer_id="1", actor="officer", started_at=5.0)
    store.end_recording(first, "officer", "at once")
    second = store.start_recording(reason="b", locked=False, officer_id="1", actor="officer", started_at=5.2)
    assert first != second and (store.recordings_dir / second).is_dir()


def test_pending_upload_lists_what_the_station_does_not_hold(store):
    first = add_recording(store, 100, MB)
    second = add_recording(store, 200, MB)
    assert [rec for rec, _ in store.pending_upload()] == [first, second]
    store.mark_held(first, [e["seq"] for e in store.manifest(first)["entries"]], "station")
    pending = store.pending_upload()
    assert [rec for rec, _ in pending] == [second]
    assert pending[0][1] == store.manifest(second)["entries"][0]
