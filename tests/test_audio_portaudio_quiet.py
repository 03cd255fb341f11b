"""PortAudio's start-up probing prints nothing on a machine without sound cards or JACK: the ALSA
and JACK libraries' messages go to the logger at DEBUG (they buried the demo's log: ~60 lines a
process). A fresh interpreter, because PortAudio starts once per process."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = ("import logging, pyaudio\n"
         "logging.basicConfig(level=logging.DEBUG, format='%(name)s %(message)s')\n"
         "from robot_dog.audio import stream\n"
         "stream.portaudio()\n")


@pytest.mark.slow
def test_alsa_and_jack_messages_go_to_the_debug_log_not_stderr() -> None:
    plain = subprocess.run([sys.executable, "-c", "import pyaudio; pyaudio.PyAudio()"],
                           capture_output=True, text=True, timeout=60)
    if "ALSA lib" not in plain.stderr and "jack" not in plain.stderr.lower():
        pytest.skip("PortAudio prints nothing here: this machine has sound cards or JACK")
    ours = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    raw = [line for line in ours.stderr.splitlines() if not line.startswith("robot_dog.audio.stream ")]
    assert raw == []
    assert "robot_dog.audio.stream " in ours.stderr      # routed, not lost
