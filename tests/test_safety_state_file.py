"""The safety node's state file: atomic writes, and a writer that never makes its caller wait."""
from __future__ import annotations

import threading
import time

from robot_dog.safety import state_file


def test_writer_returns_at_once_while_the_disk_is_slow_and_ends_at_the_newest(tmp_path, monkeypatch):
    disk = threading.Event()     # the disk answers when this is set (a stalled fsync before)
    real = state_file.write_atomically

    def slow(path, doc):
        disk.wait(30)
        real(path, doc)
    monkeypatch.setattr(state_file, "write_atomically", slow)
    path = tmp_path / "holds.json"
    writer = state_file.StateWriter(path)
    started = time.monotonic()
    for n in range(50):
        writer.save({"version": 1, "holds": [n]})
    assert time.monotonic() - started < 1.0        # fifty saves, none waited for the disk
    assert not writer.flush(timeout_s=0.2)          # still stuck on the first write
    disk.set()
    assert writer.flush(timeout_s=30)
    assert state_file.read(path) == {"version": 1, "holds": [49]}
    assert 1 <= writer.written <= 2                 # the 48 in between were coalesced
    writer.close()


def test_writer_reports_a_failed_write_and_writes_the_next_save(tmp_path):
    errors: list[str] = []
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the directory should be")
    writer = state_file.StateWriter(blocker / "holds.json", errors.append)
    writer.save({"version": 1, "holds": []})
    assert writer.flush(timeout_s=30)
    assert errors and "not saved" in errors[0] and writer.written == 0
    blocker.unlink()
    writer.save({"version": 1, "holds": [1]})
    writer.close()
    assert state_file.read(blocker / "holds.json") == {"version": 1, "holds": [1]}


def test_close_writes_what_is_pending(tmp_path):
    path = tmp_path / "holds.json"
    writer = state_file.StateWriter(path)
    writer.save({"version": 1, "holds": ["last"]})
    writer.close()
    assert state_file.read(path) == {"version": 1, "holds": ["last"]}
