"""The session's CPU priority (ros/priority.py): with autogroups the kernel shares the CPU by
session first, so a node's nice value is also set on its session, and only on a session the
node leads (never a terminal's)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot_dog.ros.priority import raise_session_priority


def test_without_autogroups_nothing_is_written(tmp_path):
    switch, group = tmp_path / "enabled", tmp_path / "autogroup"
    switch.write_text("0\n")
    assert raise_session_priority(-10, switch, group) == ""
    assert not group.exists()
    assert raise_session_priority(-10, tmp_path / "absent", group) == ""   # an older kernel
    assert not group.exists()


def test_a_process_that_does_not_lead_its_session_leaves_it_alone_and_says_why(tmp_path):
    switch, group = tmp_path / "enabled", tmp_path / "autogroup"
    switch.write_text("1\n")
    assert os.getsid(0) != os.getpid()   # pytest runs in the caller's session
    why = raise_session_priority(-10, switch, group)
    assert "weighs only within this session" in why
    assert not group.exists()


@pytest.mark.slow   # starts a process
def test_a_session_leader_sets_its_autogroup(tmp_path):
    switch, group = tmp_path / "enabled", tmp_path / "autogroup"
    switch.write_text("1\n")
    code = ("import sys; from pathlib import Path; from robot_dog.ros.priority import raise_session_priority;"
            "print(repr(raise_session_priority(-10, Path(sys.argv[1]), Path(sys.argv[2]))))")
    out = subprocess.run([sys.executable, "-c", code, str(switch), str(group)], capture_output=True,
                         text=True, timeout=60, start_new_session=True, check=True).stdout
    assert out.strip() == "''"
    assert group.read_text() == "-10"
    # refused (here: the autogroup file cannot be written): normal priority, and why
    group.unlink()
    group.mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(switch), str(group)], capture_output=True,
                         text=True, timeout=60, start_new_session=True, check=True).stdout
    assert "session at normal priority" in out


@pytest.mark.slow   # starts a process
def test_the_real_autogroup_of_a_session_leader():
    """The kernel's own file: a new session's group takes the value (root or CAP_SYS_NICE)."""
    switch = Path("/proc/sys/kernel/sched_autogroup_enabled")
    if not switch.exists() or switch.read_text().strip() != "1" or os.geteuid() != 0:
        pytest.skip("no autogroups on this kernel, or no CAP_SYS_NICE to lower a nice value")
    code = ("from robot_dog.ros.priority import raise_session_priority; import os;"
            "assert raise_session_priority(-7) == '', 'refused';"
            "print(open('/proc/self/autogroup').read())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         start_new_session=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "-7"
