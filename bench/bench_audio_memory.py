"""What each import costs the audio nodes (PSS and RSS, MB), step by step in a fresh process.

For megaphone_node and microphone_node: a new interpreter imports, in the order the node needs
them, numpy, rclpy and the interfaces, PyAudio, libsoxr, pypinyin with its dictionaries loaded
(the megaphone loads them at start-up), webrtcvad, then the node module itself (the rest); the
figure of a step is what it added. Last, for reference, what scipy.signal and pyloudnorm would
add on top (no node imports them any more; the test references still do). PSS splits shared
pages between the processes mapping them, so it is the fair share of one node on a machine;
RSS counts them whole.
"""
from __future__ import annotations

import json
import subprocess
import sys

from robot_dog.ros import dds_env

_PROBE = r"""
import gc, json, sys, psutil
proc = psutil.Process()
def sample():
    gc.collect()
    info = proc.memory_full_info()
    return info.pss / 2**20, info.rss / 2**20
out = [("python", *sample())]
for name, code in json.loads(sys.argv[1]):
    exec(code, {})
    out.append((name, *sample()))
print(json.dumps(out))
"""

_COMMON = [("numpy", "import numpy"),
           ("rclpy + interfaces", "import rclpy, robot_dog_interfaces.msg, robot_dog_interfaces.srv, "
                                  "robot_dog_interfaces.action"),
           ("pyaudio", "import pyaudio"),
           ("soxr", "import soxr")]
NODES = {
    "megaphone": _COMMON + [
        ("pypinyin + dictionaries", "from robot_dog.audio import tts; tts.to_pinyin('你好')"),
        ("node module (the rest)", "import robot_dog.audio.megaphone_node")],
    "microphone": _COMMON + [
        ("webrtcvad", "import webrtcvad"),
        ("node module (the rest)", "import robot_dog.audio.microphone_node")],
}
REMOVED = [("scipy.signal (removed)", "import scipy.signal"),
           ("pyloudnorm (removed)", "import pyloudnorm")]


def _steps(steps: list[tuple[str, str]]) -> list[tuple[str, float, float]]:
    """(step, PSS, RSS) after each step, MB, the bare interpreter first."""
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(steps)], env=dds_env.environ(),
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"import probe failed: {result.stderr.strip()[-500:]}")
    samples = json.loads(result.stdout.strip().splitlines()[-1])
    if len(samples) != len(steps) + 1:
        raise RuntimeError(f"import probe returned {len(samples)} samples for {len(steps)} steps")
    return [tuple(s) for s in samples]


def run() -> dict[str, object]:
    figures: dict[str, object] = {}
    for node, steps in NODES.items():
        samples = _steps(steps + REMOVED)
        for (_, pss0, rss0), (name, pss, rss) in zip(samples, samples[1:]):
            figures[f"{node}: {name}"] = f"PSS {pss - pss0:+.1f} MB, RSS {rss - rss0:+.1f} MB"
        _, pss, rss = samples[len(steps)]
        figures[f"{node}: imports in all"] = f"PSS {pss:.1f} MB, RSS {rss:.1f} MB"
    return figures
