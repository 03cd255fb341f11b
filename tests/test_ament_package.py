"""robot_dog as an ament_python package: an install into a fresh prefix carries the ament index
marker, the manifest, the launch files and a `lib/robot_dog/<exe>` per node, which is how
`ros2 run` and launch_ros find executables; `ament_index_python` resolves them, and a stub
starts its node."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from robot_dog.ros.node_registry import NODES
from tests.support import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    """`pip install .` (not editable: setuptools installs no data files in editable mode)."""
    tmp = tmp_path_factory.mktemp("ament")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w",
                    str(tmp / "wheel"), str(REPO)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp / "wheel").glob("robot_dog-*.whl"))
    # --ignore-installed: without it pip "upgrades" by uninstalling the environment's own
    # (editable) robot_dog before installing into the prefix.
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--ignore-installed",
                    "--prefix", str(tmp / "prefix"), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return tmp / "prefix"


@pytest.fixture
def ament_path(prefix, monkeypatch) -> Path:
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    return prefix


def test_the_environment_keeps_its_own_robot_dog(prefix):
    """Installing into the prefix leaves this environment's editable install alone."""
    where = subprocess.run([sys.executable, "-c", "import robot_dog; print(robot_dog.__file__)"],
                           cwd=prefix, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).resolve().parent == REPO / "robot_dog", where.stderr
    assert (Path(sys.executable).parent / "talker_node").is_file()


def test_ament_index_resolves_the_package_its_launch_files_and_every_node(ament_path):
    from ament_index_python.packages import (get_package_prefix, get_package_share_directory,
                                             get_packages_with_prefixes)
    assert get_packages_with_prefixes() == {"robot_dog": str(ament_path)}
    assert Path(get_package_prefix("robot_dog")) == ament_path
    share = Path(get_package_share_directory("robot_dog"))
    assert "<name>robot_dog</name>" in (share / "package.xml").read_text()
    shipped = {p.relative_to(REPO / "launch").as_posix() for p in (REPO / "launch").rglob("*.launch.yaml")}
    installed = {p.relative_to(share / "launch").as_posix() for p in (share / "launch").rglob("*.launch.yaml")}
    assert shipped and installed == shipped
    # launch_ros's ExecutableInPackage: <prefix>/lib/<package>/<executable>, executable.
    for exe in NODES:
        path = ament_path / "lib" / "robot_dog" / exe
        assert path.is_file() and os.access(path, os.X_OK), path
        assert (ament_path / "bin" / exe).is_file(), exe


def test_a_lib_stub_starts_its_node(ament_path, children):
    ns = f"ament_{uuid.uuid4().hex[:8]}"
    proc = children.spawn(str(ament_path / "lib" / "robot_dog" / "talker_node"), "--ros-args",
                          "-r", f"__ns:=/{ns}", "-p", "rate_hz:=20.0",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    wait_for(lambda: any(f"{ns}.talker" in line and "Publishing" in line for line in lines),
             f"the talker in /{ns} to publish (output: {lines[-5:]})")
