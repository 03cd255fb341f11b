"""Two test runs on one machine at once do not hear each other.

Two pytest processes are started together, as two developers (or CI beside a developer) would;
each claims its own ROS domain (tests/isolation.py) and runs the cross-process ROS tests
(tests/test_ros_interfaces.py: a child node, a topic and a service) plus a probe
(tests/data/isolation/probe.py) that publishes on the same topic name in both runs and watches
the graph while both are up. Both must pass, in different domains, each hearing only itself.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robot_dog.ros import dds_env

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def test_two_runs_at_once_pass_without_cross_talk(tmp_path):
    runs = {}
    for mark in ("a", "b"):
        env = dds_env.environ()
        env.update(ISOLATION_MARK=mark, ISOLATION_DIR=str(tmp_path))
        runs[mark] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=600",
             "tests/data/isolation/probe.py", "tests/test_ros_interfaces.py"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
    outputs = {}
    try:
        for mark, proc in runs.items():
            outputs[mark] = proc.communicate(timeout=900)[0]
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for mark, proc in runs.items():
        assert proc.returncode == 0, f"run {mark}:\n{outputs[mark][-3000:]}"
        assert " passed" in outputs[mark].splitlines()[-1]
    reports = {m: json.loads((tmp_path / f"{m}.json").read_text()) for m in runs}
    assert reports["a"]["domain"] != reports["b"]["domain"]
    for mark, report in reports.items():
        assert report["own"] >= 20 and report["other"] == 0, report
        assert any(f"isolation_probe_{mark}" in n for n in report["graph"]), report
