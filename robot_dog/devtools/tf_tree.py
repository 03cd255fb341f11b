"""`robot-dog tf-tree`: the live TF tree as Graphviz DOT (what tf2_tools' view_frames draws),
from /tf and /tf_static as they are heard for a few seconds; rendered to SVG too when
Graphviz's `dot` is installed. docs/tf_tree.svg is drawn this way from the simulator."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

from robot_dog.cli.command_line import HelpFormatter


def to_dot(edges: dict[str, tuple[str, bool]]) -> str:
    """child -> (parent, static) as a DOT graph, parents above children, sorted (stable diffs)."""
    lines = ["digraph tf {", '  rankdir=TB; node [shape=box, style=rounded, fontname="Helvetica"];']
    for child, (parent, static) in sorted(edges.items()):
        style = ' [style=dashed, label="static"]' if static else ""
        lines.append(f'  "{parent}" -> "{child}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def listen(seconds: float) -> dict[str, tuple[str, bool]]:
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from robot_dog.ros import dds_env
    from robot_dog.ros.teardown import end_ros

    dds_env.apply()   # localhost-only discovery before the participant exists
    rclpy.init(args=[])
    node = rclpy.create_node("robot_dog_tf_tree")
    edges: dict[str, tuple[str, bool]] = {}

    def keep(static: bool):
        def on(msg: TFMessage) -> None:
            for t in msg.transforms:
                edges[t.child_frame_id] = (t.header.frame_id, static)
        return on
    node.create_subscription(TFMessage, "/tf", keep(False), QoSProfile(depth=100))
    node.create_subscription(TFMessage, "/tf_static", keep(True), QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        end_ros([node])  # within a deadline: Fast DDS can spin in it (ros/teardown.py)
    return edges


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="robot-dog tf-tree", formatter_class=HelpFormatter,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", "-o", type=Path, default=Path("tf_tree.dot"),
                        help="DOT file to write; FILE.svg beside it when `dot` exists")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to listen")
    args = parser.parse_args(argv)
    edges = listen(args.seconds)
    if not edges:
        print("robot-dog tf-tree: heard no transforms (is a simulator or base driver running?)")
        return 1
    args.output.write_text(to_dot(edges))
    print(f"{args.output}: {len(edges)} frames")
    if shutil.which("dot"):
        svg = args.output.with_suffix(".svg")
        subprocess.run(["dot", "-Tsvg", str(args.output), "-o", str(svg)], check=True)
        print(svg)
    return 0
