"""`robot-dog demo` stopped by SIGTERM (systemd, `docker stop`, a CI timeout) or Ctrl-C at several
moments of start-up: it takes the clean path every time (exit 0, no traceback) and leaves no
process behind: not the broker, the virtual MCU, the launcher or any node. Its log says when
the dog connected and when the first frame arrived."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from robot_dog.ros import dds_env
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: moment -> the output line that marks it (None: at once, before Python has started)
MOMENTS = {
    "at once": None,
    "broker up": "mosquitto listening on",
    "viewer up, nodes starting": "  viewer:  http://127.0.0.1:",
    "nodes importing": "[payload] started pid",
    "streaming": "first frame from dog1/bodycam",
}


class Demo:
    def __init__(self, var) -> None:
        self.var = str(var)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot_dog.cli", "demo", "--broker-port", str(free_port()),
             "--http-port", str(free_port()), "--handheld-port", "0", "--var", self.var],
            env=dds_env.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self.seen: dict[int, psutil.Process] = {}
        self._threads = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._watch, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def look(self) -> None:
        """Remember every process below the demo now."""
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def _watch(self) -> None:
        """Every process the demo ever had below it (they may come and go between looks)."""
        while self.proc.poll() is None:
            self.look()
            time.sleep(0.02)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str) -> None:
        wait_for(lambda: any(text in line for line in self.lines) or self.proc.poll() is not None,
                 f"{text!r} in the demo's output", timeout_s=120)
        assert self.proc.poll() is None, f"the demo ended early:\n{self.output()[-3000:]}"

    def finish(self) -> int:
        code = self.proc.wait(timeout=120)
        for thread in self._threads:
            thread.join(timeout=10)
        return code

    def survivors(self) -> list[psutil.Process]:
        left = [p for p in self.seen.values() if _alive(p)]
        left += [p for p in psutil.process_iter(["cmdline"])  # started after our last look
                 if self.var in " ".join(p.info["cmdline"] or []) and _alive(p)]
        return left


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("moment,sig", [(m, signal.SIGTERM) for m in MOMENTS]
                         + [("nodes importing", signal.SIGINT)])
def test_a_stop_at_any_moment_is_clean_and_leaves_nothing(tmp_path, moment: str,
                                                          sig: signal.Signals) -> None:
    demo = Demo(tmp_path)
    try:
        if MOMENTS[moment] is not None:
            demo.wait_for_line(MOMENTS[moment])
        if moment == "streaming":
            assert any("dog dog1 connected" in line for line in demo.lines), demo.output()[-3000:]
        demo.look()  # what runs at this moment, whatever the watcher thread caught
    finally:
        demo.proc.send_signal(sig)
        code = demo.finish()
    out = demo.output()
    if moment == "at once":
        assert code in (0, -sig), out[-3000:]  # before Python could install a handler: killed
    else:
        assert code == 0, out[-3000:]
    assert "Traceback" not in out, out[-5000:]
    if moment != "at once":
        assert demo.seen, "no child process seen: the stop came before the moment"
    # Reaping by the kernel may trail the demo's exit by a moment; a survivor stays one.
    try:
        wait_for(lambda: not demo.survivors(), "no process of the demo left", timeout_s=10)
    except AssertionError:
        left = [(p.pid, p.cmdline()) for p in demo.survivors()]
        for p in demo.survivors():
            p.kill()
        raise AssertionError(f"left behind: {left}\n{out[-3000:]}") from None
