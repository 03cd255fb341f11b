"""Station data layer, the same tests against SQLite (WAL) and a real PostgreSQL."""
import subprocess
import sys

import pytest

from robot_dog.station.storage import (CommandRow, EventRow, FrameRow, RegisteredDog, ResultRow,
                                       StatusRow, Storage, StorageError, TelemetryRow)
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.incident_tables import IncidentTables

EVENT = {"v": 1, "dog": "dog1", "ts": 5.0, "id": "boot1-1", "type": "estop", "severity": "critical",
         "message": "e-stop engaged"}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "s.db"
    return request.getfixturevalue("postgres").fresh_db()


@pytest.mark.slow
def test_batched_rows_are_all_committed_and_counted(target):
    storage = Storage(target, batch_max=64)
    storage.put(StatusRow("dog1", "online", 1.0))
    for i in range(1000):
        storage.put(TelemetryRow("dog1", 1.0 + i, {"seq": i}))
    for i in range(7):
        storage.put(FrameRow("dog2", "bodycam", 100, 2.0 + i))
    assert storage.flush()
    assert storage.counts() == {"dog1": {"telemetry": 1000, "frames": 0, "events": 0},
                                "dog2": {"telemetry": 0, "frames": 7, "events": 0}}
    assert storage.latest_telemetry("dog1") == {"seq": 999}
    assert storage.telemetry_seqs("dog1") == list(range(1000))
    assert storage.latest_telemetry("nobody") is None
    fleet = storage.fleet()
    assert [d["dog"] for d in fleet] == ["dog1"] and fleet[0]["last_seen"] == 1000.0
    storage.close()


@pytest.mark.slow
def test_after_commit_runs_once_the_rows_before_it_are_readable(target):
    # The station acks MQTT messages with it: an ack must never precede the commit.
    storage = Storage(target, batch_max=50)
    seen: list[int] = []
    for chunk in range(4):
        for i in range(120):
            storage.put(TelemetryRow("dog1", 1.0, {"seq": chunk * 120 + i}))
        storage.after_commit(lambda: seen.append(len(storage.telemetry_seqs("dog1"))))
    assert storage.flush()
    assert len(seen) == 4
    assert all(n >= (k + 1) * 120 for k, n in enumerate(seen)), seen
    storage.close()


@pytest.mark.slow
def test_events_deduplicated_registry_and_audit(target):
    storage = Storage(target)
    storage.put(RegisteredDog("dog1"))
    storage.put(RegisteredDog("dog2"))
    storage.put(StatusRow("dog1", "online", 1.0))
    storage.put(EventRow("dog1", 6.0, EVENT))
    storage.put(EventRow("dog1", 7.0, EVENT))  # at-least-once delivery: a duplicate
    storage.put(CommandRow("nonce1", "dog1", "siren", {"tone": "wail"}, "alice", 10.0))
    storage.put(ResultRow("dog1", 10.5, {"nonce": "nonce1", "code": "ok", "ok": True, "verb": "siren"}))
    # a result for a command this station never sent (forged on the wire): audited too
    storage.put(ResultRow("dog2", 11.0, {"nonce": "forged", "code": "bad_signature", "ok": False,
                                         "message": "signature does not verify"}))
    assert storage.flush()
    fleet = {d["dog"]: d for d in storage.fleet()}
    assert fleet["dog1"]["status"] == "online" and fleet["dog1"]["registered"]
    assert fleet["dog2"]["status"] == "offline" and fleet["dog2"]["last_seen"] is None
    events = storage.events("dog1")
    assert len(events) == 1 and events[0]["id"] == "boot1-1" and events[0]["received"] == 6.0
    [audit] = storage.commands("dog1")
    assert audit == {"nonce": "nonce1", "verb": "siren", "args": {"tone": "wail"}, "issuer": "alice",
                     "issued_at": 10.0, "code": "ok", "ok": True, "message": "", "result_at": 10.5,
                     "answers": [{"dog": "dog1", "code": "ok", "ok": True, "message": "",
                                  "ts": 10.5, "received": 10.5}]}
    assert storage.commands("dog2")[0]["code"] == "bad_signature"
    storage.close()


@pytest.mark.slow
def test_audit_keeps_the_first_result_of_the_addressed_dog(target):
    """A result only completes the audit row if it comes from the dog the command went to, and
    only the first does; every answer is kept as its own entry, once however often delivered."""
    storage = Storage(target)
    storage.put(CommandRow("n-estop", "dog2", "estop", {}, "alice", 10.0))
    storage.put(CommandRow("n-light", "dog1", "police_light", {}, "alice", 10.0))
    # dog1's credential answers the e-stop sent to dog2 (which is offline): not its command
    forged = {"nonce": "n-estop", "code": "ok", "ok": True, "ts": 11.0}
    storage.put(ResultRow("dog1", 11.0, forged))
    storage.put(ResultRow("dog1", 12.0, {"nonce": "n-light", "code": "ok", "ok": True, "ts": 12.0}))
    # the light command replayed: dog1 answers `replayed` with the same nonce, twice delivered
    replay = {"nonce": "n-light", "code": "replayed", "ok": False, "ts": 13.0}
    storage.put(ResultRow("dog1", 13.0, replay))
    storage.put(ResultRow("dog1", 13.5, replay))
    assert storage.flush()
    [estop] = storage.commands("dog2")
    assert estop["code"] is None and estop["ok"] is None, "dog1 cannot complete dog2's command"
    assert [a["dog"] for a in estop["answers"]] == ["dog1"], "but its answer is on record"
    [light] = storage.commands("dog1")
    assert (light["code"], light["ok"], light["result_at"]) == ("ok", True, 12.0)
    assert [a["code"] for a in light["answers"]] == ["ok", "replayed"]
    storage.close()


@pytest.mark.slow
def test_ingest_is_idempotent_and_dead_letters_are_bounded(target, monkeypatch):
    from robot_dog.station.storage import DeadLetterRow, schema
    monkeypatch.setattr(schema, "DEAD_LETTERS_KEPT", 5)
    storage = Storage(target)
    for _ in range(3):  # QoS 1 redelivers: the same samples again, in one batch and later ones
        for seq in (1, 2, 3):
            storage.put(TelemetryRow("dog1", 1.0 + seq, {"seq": seq}))
        storage.put(TelemetryRow("dog2", 1.0, {"seq": 1}))
        storage.flush()
    assert storage.telemetry_seqs("dog1") == [1, 2, 3] and storage.telemetry_seqs("dog2") == [1]
    for i in range(12):
        storage.put(DeadLetterRow("patrol/v1/dog1/telemetry", 2000 + i, "too_deep", 5.0 + i))
        storage.flush()
    letters = storage.dead_letters()
    assert [d["size"] for d in letters] == [2011, 2010, 2009, 2008, 2007]
    assert letters[0]["reason"] == "too_deep" and letters[0]["topic"] == "patrol/v1/dog1/telemetry"
    storage.close()


def test_databases_are_private_with_their_wal_and_shm(tmp_path):
    from robot_dog.mqtt.store_forward import Outbox
    storage = Storage(tmp_path / "station.db")
    storage.put(TelemetryRow("dog1", 1.0, {"seq": 1}))
    storage.flush()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.put("patrol/v1/dog1/telemetry", b"{}")
    for name in ("station.db", "station.db-wal", "station.db-shm", "outbox.sqlite",
                 "outbox.sqlite-wal", "outbox.sqlite-shm"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    storage.close()
    outbox.close()


def _rows_seen_by_another_process(db) -> int:
    """Telemetry rows as a separate reader sees them (a backup, `robot-dog station user add`,
    a benchmark): its own connection, opened and closed."""
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute('SELECT count(*) FROM telemetry').fetchone()[0]); c.close()")
    return int(subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True,
                              text=True, check=True, timeout=60).stdout)


@pytest.mark.slow
def test_a_reader_in_another_process_never_makes_committed_rows_vanish(tmp_path):
    """The station opens its database from three places (batched writer, accounts, incidents).
    Each once opened and closed the file to make it private, which dropped the POSIX locks of
    the connections already open: the next reader in another process, closing, took itself
    for the last connection and deleted the WAL, and every later commit went into the deleted
    file (invisible to others, lost on a crash; the knee benchmark missed 0.2-4.5 % of a run)."""
    db = tmp_path / "station.db"
    storage = Storage(db)
    others = [AccountTables(db), IncidentTables(db)]
    seq = 0
    for n in (1, 2, 3):
        for _ in range(100):
            seq += 1
            storage.put(TelemetryRow("dog1", float(seq), {"seq": seq}))
        assert storage.flush()
        assert _rows_seen_by_another_process(db) == 100 * n
    storage.close()
    for tables in others:
        tables.close()
    assert _rows_seen_by_another_process(db) == 300


@pytest.mark.slow
def test_rows_survive_a_reopen(target):
    storage = Storage(target)
    storage.put(TelemetryRow("dog1", 1.0, {"seq": 1}))
    storage.flush()
    storage.close()
    again = Storage(target)
    assert again.counts() == {"dog1": {"telemetry": 1, "frames": 0, "events": 0}}
    again.close()


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(StorageError, match="postgresql"):
        Storage("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_workers_sharing_postgresql_never_deadlock(postgres, caplog):
    # Two station workers write status/last_seen/events of the same dogs in opposite orders:
    # without one global lock order, PostgreSQL aborts one of them as a deadlock.
    import threading
    url = postgres.fresh_db()
    workers = [Storage(url, linger_s=0), Storage(url, linger_s=0)]
    dogs = [f"dog{i:02d}" for i in range(40)]

    def feed(storage, order, base):
        for round_ in range(30):
            for dog in order:
                storage.put(StatusRow(dog, "online", base + round_))
                storage.put(EventRow(dog, base + round_, {**EVENT, "dog": dog,
                                                          "id": f"{dog}-{round_}"}))
                storage.put(TelemetryRow(dog, base + round_, {"seq": int(base) * 1000 + round_}))

    threads = [threading.Thread(target=feed, args=(workers[0], dogs, 1.0)),
               threading.Thread(target=feed, args=(workers[1], dogs[::-1], 2.0))]
    with caplog.at_level("WARNING", logger="robot_dog.station.storage"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(w.flush(60) for w in workers)
    assert [w.failed_batches for w in workers] == [0, 0]
    assert "not committed yet" not in caplog.text  # not even a retried deadlock
    counts = workers[0].counts()
    assert all(counts[d]["telemetry"] == 60 and counts[d]["events"] == 30 for d in dogs)
    for w in workers:
        w.close()


def test_lost_postgresql_connection_is_retried_and_acks_wait_for_the_commit(postgres):
    import psycopg
    url = postgres.fresh_db()
    storage = Storage(url)
    storage.put(TelemetryRow("dog1", 1.0, {"seq": 0}))
    assert storage.flush()
    with psycopg.connect(url, autocommit=True) as admin:  # cut every connection of the station
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    acked = []
    for i in range(1, 50):
        storage.put(TelemetryRow("dog1", 1.0 + i, {"seq": i}))
    storage.after_commit(lambda: acked.append(True))
    assert storage.flush(30) and acked == [True]
    with psycopg.connect(url) as check:
        seqs = [r[0] for r in check.execute("SELECT seq FROM telemetry ORDER BY id")]
    assert seqs == list(range(50))
    assert storage.failed_batches == 0
    storage.close()


@pytest.mark.slow
def test_a_row_the_database_refuses_is_dropped_alone_and_logged(target, caplog):
    storage = Storage(target)
    acked = []
    storage.put(TelemetryRow("dog1", 1.0, {"seq": 1}))
    storage.put(EventRow("dog1", 1.0, {"v": 1, "dog": "dog1"}))  # no id: cannot be stored
    storage.put(TelemetryRow("dog1", 2.0, {"seq": 2}))
    storage.after_commit(lambda: acked.append(True))
    with caplog.at_level("ERROR", logger="robot_dog.station.storage"):
        assert storage.flush()
    assert storage.telemetry_seqs("dog1") == [1, 2]
    assert acked == [True]  # settled: acking it is right, a resend would fail the same way
    assert "EventRow failed to commit, dropped" in caplog.text
    storage.close()


def test_an_old_database_with_duplicate_telemetry_is_deduplicated_on_open(tmp_path):
    """A database from before (dog, seq) was unique: keep the first copy, then index."""
    import sqlite3
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE telemetry (id INTEGER PRIMARY KEY, dog TEXT NOT NULL, "
                    "received REAL NOT NULL, seq BIGINT, doc TEXT NOT NULL)")
        con.executemany("INSERT INTO telemetry (dog, received, seq, doc) VALUES (?, ?, ?, ?)",
                        [("dog1", 1.0, 1, "{}"), ("dog1", 2.0, 1, "{}"), ("dog1", 3.0, 2, "{}")])
    storage = Storage(db)
    assert storage.telemetry_seqs("dog1") == [1, 2]
    storage.put(TelemetryRow("dog1", 4.0, {"seq": 2}))
    storage.flush()
    assert storage.telemetry_seqs("dog1") == [1, 2]
    storage.close()


@pytest.mark.slow
def test_evidence_rows_list_with_their_verification_state(target):
    from robot_dog.station.storage import EvidenceItemRow, EvidenceRecordingRow
    storage = Storage(target)
    rec = dict(dog="dog1", recording="DOG-1-20270101T000000-000001", device="DOG-1", officer="7",
               reason="e-stop engaged", started_at=100.0, locked=False, received=200.0)
    item = dict(dog="dog1", recording=rec["recording"], kind="segment", size=10, sha256="a" * 64,
                start=100.0, end=160.0)
    storage.put(EvidenceRecordingRow(**rec, ended_at=None, items=1))
    storage.put(EvidenceItemRow(**item, seq=1, file="000001-segment.mp4", state="pending", verified_at=None))
    storage.put(EvidenceItemRow(**item, seq=1, file="000001-segment.mp4", state="verified", verified_at=300.0))
    # A later manifest (two items, ended) arrives; then the first one again, redelivered: the
    # recording keeps the newer one and a verified item never turns back to pending.
    storage.put(EvidenceRecordingRow(**rec, ended_at=220.0, items=2))
    storage.put(EvidenceItemRow(**item, seq=2, file="000002-segment.mp4", state="pending", verified_at=None))
    storage.put(EvidenceRecordingRow(**rec, ended_at=None, items=1))
    storage.put(EvidenceItemRow(**item, seq=1, file="000001-segment.mp4", state="pending", verified_at=None))
    assert storage.flush()
    [listed] = storage.evidence_recordings("dog1")
    assert (listed["items"], listed["verified"], listed["ended_at"]) == (2, 1, 220.0)
    assert [i["state"] for i in storage.evidence_items("dog1", rec["recording"])] == ["verified", "pending"]
    assert storage.evidence_recordings("dog1", since=230.0) == []
    assert storage.evidence_recordings("dog1", until=50.0) == []
    assert storage.evidence_recordings("dog2") == []
    storage.close()
