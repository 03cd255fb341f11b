"""README.md "A secured fleet", run as written: its shell lines, in order, through ./dev.sh
(this run's environment), as root or not, in a copy of the files they name. Background lines
(`&`) are started and left running; the curl at the end is repeated until the stack is up
(what a person does) and must come back with the dog's `ok`: a signed command went station ->
TLS broker -> dog -> payload node -> virtual MCU and back.

The recipe uses the fixed ports 8883 and 8080; when something on this machine holds either,
the test is skipped (it says so) rather than run against someone else's services.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
#: What ./dev.sh and the recipe read from the repository (dev.sh hashes the first four to
#: decide that the environment is already up to date). All of robot_dog/: the commands run in
#: the copy, where a partial robot_dog/ (a namespace package) would shadow the installed one.
NEEDED = ("dev.sh", "requirements.txt", "requirements.lock", "setup.py", "robot_dog",
          "ros_ws/src/robot_dog_interfaces", "launch")


def recipe() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## A secured fleet"):]
    block = section[section.index("```sh\n") + 6:section.index("\n```", section.index("```sh"))]
    return [" ".join(part.strip() for part in line.split("\\\n"))
            for line in re.split(r"(?<!\\)\n", block)]


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_recipe_lines_name_the_port_and_the_mosquitto_user():
    lines = recipe()
    assert any("--run-as" in line and "fleet init" in line for line in lines)
    assert any("broker_port:=8883" in line for line in lines)


def test_the_secured_fleet_recipe_runs_as_written(tmp_path):
    for port in (8883, 8080):
        if busy(port):
            pytest.skip(f"port {port} is in use on this machine: the recipe needs it")
    work = tmp_path / "repo"
    for name in NEEDED:
        src, dst = REPO / name, work / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    # This run's venv as it is: the scratch copy must not reinstall it (dev.sh setup).
    env = {**os.environ, "ROBOT_DOG_VENV": sys.prefix, "ROBOT_DOG_NO_SETUP": "1"}
    background: list[subprocess.Popen] = []
    *setup, curl = recipe()
    try:
        for line in setup:
            command = line.split("#", 1)[0].strip()
            if command.endswith("&"):
                log = (work / f"bg{len(background)}.log").open("w")
                background.append(subprocess.Popen(["bash", "-c", command[:-1]], cwd=work, env=env,
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
            else:
                done = subprocess.run(["bash", "-c", command], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"

        def answered() -> dict | None:
            assert all(p.poll() is None for p in background), "a recipe process exited"
            out = subprocess.run(["bash", "-c", curl], cwd=work, env=env, capture_output=True,
                                 text=True, timeout=60).stdout
            try:
                reply = json.loads(out)
            except ValueError:
                return None  # not up yet
            return reply if reply.get("result", {}).get("code") == "ok" else None
        reply = wait_for(answered, "the recipe's curl to get the dog's ok", timeout_s=180,
                         interval_s=2.0)
        assert reply["result"]["dog"] == "dog1" and reply["status"] == "done"
        assert (work / "var/station.db").stat().st_mode & 0o777 == 0o600
    finally:
        for p in reversed(background):
            try:
                os.killpg(p.pid, signal.SIGINT)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)
