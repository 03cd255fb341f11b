"""bench safety's code identity: the files its processes load, hashed. A commit elsewhere (the
station, the console, the docs) keeps the identity, so the 1,000-trial tally goes on; a change
to the safety chain makes a new one."""
from __future__ import annotations

import shutil
from pathlib import Path

from bench import bench_safety
from bench.bench_teleop import Stack
from bench.code_identity import identity, loaded_files

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = ("bench.bench_safety", *Stack.NODES)


def _rel(files: list[Path], root: Path) -> set[str]:
    return {f.relative_to(root).as_posix() for f in files}


def test_the_benchmark_loads_the_safety_chain_its_nodes_and_the_lock_but_not_the_station() -> None:
    files = _rel(loaded_files(ROOT, ENTRIES), ROOT)
    for needed in ("bench/bench_safety.py", "bench/bench_teleop.py", "robot_dog/safety/estop.py",
                   "robot_dog/safety/motion.py", "robot_dog/safety/node.py",
                   "robot_dog/payload/hardware_estop.py", "robot_dog/teleop/server.py",
                   "firmware_bridge/transport.py", "firmware_bridge/virtual_mcu/device.py",
                   "robot_dog/__init__.py", "requirements.lock", "robot_dog/config/twist_mux.yaml",
                   "ros_ws/src/robot_dog_interfaces/msg/EstopState.msg"):
        assert needed in files, needed
    assert not [f for f in files if f.startswith(("robot_dog/station/", "docs/", "robot_dog/uplink/"))]


def test_the_run_records_the_hash_its_file_count_and_the_commit() -> None:
    doc = bench_safety.code_identity()
    assert doc["code"] == identity(ROOT, ENTRIES)[0] and len(str(doc["code"])) == 64
    assert doc["code_files"] == len(loaded_files(ROOT, ENTRIES))
    assert len(str(doc["commit"])) == 40


def _copy(files: list[Path], dest: Path) -> None:
    for path in files:
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def test_only_a_change_to_a_loaded_file_changes_the_identity(tmp_path: Path) -> None:
    """A copy of the loaded files plus a station module and a doc: editing those two keeps the
    identity; editing the e-stop core, or making a loaded module import the station, does not."""
    _copy(loaded_files(ROOT, ENTRIES), tmp_path)
    station = sorted((ROOT / "robot_dog" / "station").glob("*.py"))
    _copy([*station[:2], ROOT / "docs" / "safety.md"], tmp_path)
    before = identity(tmp_path, ENTRIES)
    assert before == identity(ROOT, ENTRIES)              # the copy is the same code

    for path in (tmp_path / station[1].relative_to(ROOT), tmp_path / "docs" / "safety.md"):
        path.write_text(path.read_text() + "\n# changed elsewhere\n")
    (tmp_path / "robot_dog" / "station" / "new_page.py").write_text("x = 1\n")
    assert identity(tmp_path, ENTRIES) == before

    estop = tmp_path / "robot_dog" / "safety" / "estop.py"
    original = estop.read_text()
    estop.write_text(original.replace("MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.05, 10.0",
                                      "MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.05, 11.0"))
    changed = identity(tmp_path, ENTRIES)
    assert changed[0] != before[0] and changed[1] == before[1]
    estop.write_text(original)
    assert identity(tmp_path, ENTRIES) == before

    twist = tmp_path / "robot_dog" / "safety" / "twist.py"
    station_module = f"robot_dog.station.{station[1].stem}"
    twist.write_text(twist.read_text() + f"\n\ndef _later() -> None:\n    import {station_module}\n")
    grown = identity(tmp_path, ENTRIES)
    assert grown[0] != before[0] and grown[1] > before[1]   # a lazy import counts too


def test_relative_and_from_imports_resolve_to_the_repositorys_files(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("from ..other import thing\nimport json\n")
    (pkg / "other.py").write_text("thing = 1\n")
    (pkg / "unused.py").write_text("")
    files = _rel(loaded_files(tmp_path, ["pkg.sub"]), tmp_path)
    assert files == {"pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/leaf.py", "pkg/other.py"}
