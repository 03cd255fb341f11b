"""What a node process holds that it does not need: the image-sized shared-memory segment, and
libraries its node uses rarely or never (figures: docs/BENCHMARKS.md, "Memory of the dog stack")."""
from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from robot_dog.ros import dds_env
from robot_dog.ros.node_registry import NODES
from tests.fixtures.processes import Children, unique_namespace
from tests.support import wait_for

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

#: A talker run by the one `main()` of every node (run_node), as an image publisher or not.
#: In a ROS domain of its own (outside the range test runs claim, tests/isolation.py): a
#: participant also maps the segment of every participant it discovers, so an image publisher
#: still running in the run's domain made a lone talker map 8 MB that was not its own.
_TALKER = """
import os, random, sys
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randrange(150, 230))
from robot_dog.examples.talker import TalkerNode
from robot_dog.ros.ros_main import run_node

class ImageTalker(TalkerNode):
    PUBLISHES_IMAGES = True

sys.exit(run_node(ImageTalker if sys.argv[1] == "images" else TalkerNode, sys.argv[2:]))
"""


def _segments(pid: int) -> list[int]:
    """Sizes of the Fast DDS segments a process maps: a lone process maps only its own (the
    transport's, and a 0.5 MB one Fast DDS makes beside it)."""
    sizes = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        match = re.match(r"([0-9a-f]+)-([0-9a-f]+) .* /dev/shm/fastdds_(?!port)[0-9a-f]+$", line)
        if match:
            sizes.append(int(match.group(2), 16) - int(match.group(1), 16))
    return sizes


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["images", "no_images"])
def test_only_an_image_publisher_maps_the_large_segment(kind: str, children: Children) -> None:
    node = children.python(_TALKER, kind, "--ros-args", "-r", f"__ns:={unique_namespace('mem')}",
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: any(size >= MB for size in _segments(node.pid)),
             "the participant's shared-memory segment", timeout_s=60)
    sizes = _segments(node.pid)
    if kind == "images":
        assert max(sizes) >= 8 * MB, sizes
    else:
        assert max(sizes) <= 2 * MB, sizes  # 1 MB and its bookkeeping; the image segment is 8 MB


def test_a_node_declares_publishes_images_exactly_when_it_publishes_raw_images() -> None:
    """PUBLISHES_IMAGES picks the 8 MB segment: a node that publishes sensor_msgs/Image needs it
    (a 640x480 frame is 0.9 MB, more than the 1 MB segment holds in flight), no other does."""
    for exe, target in NODES.items():
        module_name, class_name = target.split(":")
        path = Path(importlib.util.find_spec(module_name).origin)  # type: ignore[union-attr]
        tree = ast.parse(path.read_text())
        publishes = any(isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "create_publisher"
                        and call.args and getattr(call.args[0], "id", "") == "Image"
                        for call in ast.walk(tree))
        declared = any(isinstance(node, ast.ClassDef) and node.name == class_name and any(
            isinstance(item, ast.Assign) and any(getattr(t, "id", "") == "PUBLISHES_IMAGES" for t in item.targets)
            and getattr(item.value, "value", False) is True for item in node.body) for node in ast.walk(tree))
        assert publishes == declared, f"{exe}: publishes Image {publishes}, PUBLISHES_IMAGES {declared}"


#: Libraries a node must not load when it starts: heavy, and used rarely (on first use) or never.
NOT_AT_START = {
    "uplink_node": ("av", "cv2", "jsonschema", "scipy", "pyaudio"),     # talk, re-encode; refusals
    "megaphone_node": ("pypinyin", "scipy", "pyloudnorm", "av", "cv2"),  # first Mandarin line
    "microphone_node": ("scipy", "pyloudnorm", "pypinyin", "av", "cv2"),
    "bodycam_node": ("jsonschema", "scipy", "pypinyin"),
    "safety_node": ("av", "cv2", "jsonschema", "scipy", "pyaudio"),
    "payload_node": ("av", "cv2", "jsonschema", "scipy", "pyaudio"),
}

_IMPORTS = """
import json, sys
__import__(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.slow  # a fresh interpreter
def test_node_modules_load_no_rarely_used_library_at_start() -> None:
    # One interpreter per node: what one node loads must not hide what another loads.
    for exe, libraries in NOT_AT_START.items():
        module = NODES[exe].split(":")[0]
        out = subprocess.run([sys.executable, "-c", _IMPORTS, module], cwd=REPO, env=dds_env.environ(),
                             capture_output=True, text=True, timeout=120, check=True).stdout
        loaded = set(json.loads(out.strip().splitlines()[-1]))
        assert not loaded & set(libraries), f"{exe} loads {sorted(loaded & set(libraries))} at start"
