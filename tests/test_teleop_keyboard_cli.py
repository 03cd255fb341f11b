"""`robot-dog teleop keyboard` in a real pseudo-terminal: keys drive `teleop/keyboard/cmd_vel`, letting go
sends zero, Ctrl-C sends zero on the way out."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time

import pytest
from geometry_msgs.msg import Twist

from robot_dog.ros import dds_env, qos
from tests.support import wait_for

pytestmark = pytest.mark.slow


def test_keys_drive_release_and_exit_send_zero(dog_namespace, ros_probe):
    probe = ros_probe
    probe.record(Twist, "teleop/keyboard/cmd_vel", qos.COMMAND)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "robot_dog.cli", "teleop", "keyboard", "--ns",
                             dog_namespace], stdin=slave, stdout=slave, stderr=slave,
                            env=dds_env.environ(), start_new_session=True)
    os.close(slave)

    def drain() -> None:  # the terminal's output must be read, or the child blocks printing
        try:
            while os.read(master, 4096):
                pass
        except OSError:
            pass
    threading.Thread(target=drain, daemon=True).start()
    try:
        def key_until(char: str, predicate, what: str) -> None:
            def press():
                os.write(master, char.encode())
                return predicate()
            wait_for(press, what, timeout_s=60, interval_s=0.03)   # autorepeat-like presses

        key_until("i", lambda: any(m.linear.x == pytest.approx(0.3)
                                   for m in probe.messages("teleop/keyboard/cmd_vel")), "forward 0.3 m/s")
        released = time.monotonic()
        wait_for(lambda: [m.linear.x for m in probe.messages("teleop/keyboard/cmd_vel", released)][-1:] == [0.0],
                 "zero after the key was let go", timeout_s=30)
        key_until("j", lambda: any(m.angular.z == pytest.approx(0.5)
                                   for m in probe.messages("teleop/keyboard/cmd_vel")), "turning left")
        before_exit = time.monotonic()
        os.write(master, b"\x03")
        assert proc.wait(timeout=30) == 0
        wait_for(lambda: any(m.linear.x == 0.0 and m.angular.z == 0.0
                             for m in probe.messages("teleop/keyboard/cmd_vel", before_exit)),
                 "zero on exit", timeout_s=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
