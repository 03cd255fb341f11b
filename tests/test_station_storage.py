"""Station storage: batched SQLite (WAL) writes, counts and latest telemetry."""
import sqlite3

from robot_dog.station.storage import FrameRow, StatusRow, Storage, TelemetryRow


def test_batched_rows_are_all_committed_and_counted(tmp_path):
    storage = Storage(tmp_path / "s.db", batch_max=64)
    storage.put(StatusRow("dog1", "online", 1.0))
    for i in range(1000):
        storage.put(TelemetryRow("dog1", 1.0 + i, {"seq": i}))
    for i in range(7):
        storage.put(FrameRow("dog2", "bodycam", 100, 2.0 + i))
    assert storage.flush()
    assert storage.counts() == {"dog1": {"telemetry": 1000, "frames": 0},
                                "dog2": {"telemetry": 0, "frames": 7}}
    assert storage.latest_telemetry("dog1") == {"seq": 999}
    assert storage.latest_telemetry("nobody") is None
    fleet = storage.fleet()
    assert [d["dog"] for d in fleet] == ["dog1"] and fleet[0]["last_seen"] == 1000.0
    storage.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_survive_a_reopen(tmp_path):
    storage = Storage(tmp_path / "s.db")
    storage.put(TelemetryRow("dog1", 1.0, {"seq": 1}))
    storage.flush()
    storage.close()
    again = Storage(tmp_path / "s.db")
    assert again.counts() == {"dog1": {"telemetry": 1, "frames": 0}}
    again.close()
