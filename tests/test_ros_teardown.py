"""A ROS teardown that hangs (Fast DDS deleting its participant can spin forever) ends the
process within the deadline, with its stack on stderr and what it printed before kept."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from robot_dog.ros import dds_env

SCRIPT = textwrap.dedent("""
    import sys, time
    import rclpy
    from robot_dog.ros import dds_env
    from robot_dog.ros.teardown import end_ros
    dds_env.apply()
    rclpy.init(args=[])
    node = rclpy.create_node("teardown_probe")
    if sys.argv[1] == "hang":
        def spin_forever():   # stands in for Fast DDS' set_listener busy wait
            while True:
                pass
        node.destroy_node = spin_forever
    print("answer printed before the teardown")   # buffered: stdout is a pipe
    end_ros([node], deadline_s=1.0)
    print("teardown done")
""")


def run(mode: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=120, env=dds_env.environ())
    return done, time.monotonic() - start


@pytest.mark.slow
def test_a_hung_teardown_ends_the_process_with_its_stack_and_keeps_its_output():
    done, _ = run("hang")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "answer printed before the teardown" in done.stdout
    assert "teardown done" not in done.stdout
    assert "spin_forever" in done.stderr   # faulthandler's dump says where it hung


@pytest.mark.slow
def test_a_normal_teardown_is_not_cut_short():
    done, _ = run("normal")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["answer printed before the teardown", "teardown done"]
    assert "Timeout" not in done.stderr
