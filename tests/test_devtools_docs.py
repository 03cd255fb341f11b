"""What docs/ show a ROS developer is generated, not hand-kept: the Foxglove layout file is
the layout module's output, and docs/tf_tree.dot is a tree `robot-dog tf-tree` writes, rooted
at odom, with every frame robot_dog.ros.frames names."""
from __future__ import annotations

import json
import re
from pathlib import Path

from robot_dog.devtools.foxglove_layout import layout_json
from robot_dog.devtools.tf_tree import to_dot
from robot_dog.ros import frames

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_layout_file_is_the_generated_layout():
    committed = (DOCS / "foxglove" / "robot_dog.layout.json").read_text()
    assert committed == layout_json("/dog1"), "regenerate: python -m robot_dog.devtools.foxglove_layout /dog1"
    text = json.dumps(json.loads(committed))
    for topic in ("/dog1/robot_description", "/dog1/scan", "/dog1/camera/image_raw",
                  "/dog1/camera/camera_info", "/dog1/odom", "/diagnostics"):
        assert f'"{topic}' in text, topic


def test_tf_tree_in_docs_has_every_named_frame_under_odom():
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', (DOCS / "tf_tree.dot").read_text())
    parent_of = {child: parent for parent, child in edges}
    named = {frames.BASE_LINK, frames.IMU_LINK, frames.GPS_LINK, frames.LASER_LINK, *frames.PAYLOAD}
    assert named <= set(parent_of)
    for frame in parent_of:
        while frame != frames.ODOM:
            frame = parent_of[frame]


def test_to_dot_marks_static_edges_and_is_sorted():
    dot = to_dot({"b": ("a", False), "a": ("odom", True)})
    lines = [line.strip() for line in dot.splitlines() if "->" in line]
    assert lines == ['"odom" -> "a" [style=dashed, label="static"];', '"a" -> "b";']
