"""Installs robot_dog, firmware_bridge and sim with one console script per node, as a pip
package and as an ament_python package (package.xml): the ament index marker, the manifest and
the launch files under share/robot_dog/, and every node executable also under lib/robot_dog/,
where `ros2 run` and `ros2 launch` look for it."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
PACKAGE = "robot_dog"

# The node registry is plain data; read it without importing the package (no rclpy at build).
_registry: dict = {}
exec(HERE.joinpath("robot_dog", "ros", "node_registry.py").read_text(), _registry)
NODES = {exe: target.split(":")[0] for exe, target in _registry["NODES"].items()}


def _lib_executables() -> list[str]:
    """lib/robot_dog/<exe>: a shell stub that runs the console script of the same name from the
    prefix's bin/ (pip and colcon both put console scripts there), so one entry point serves
    both layouts. Written at build time from the registry, never edited by hand."""
    out = HERE / "build" / "ament_lib"
    out.mkdir(parents=True, exist_ok=True)
    stubs = []
    for exe in sorted(NODES):
        stub = out / exe
        stub.write_text('#!/bin/sh\n# ament layout: lib/robot_dog/<exe> runs <prefix>/bin/<exe>.\n'
                        'exec "$(dirname "$0")/../../bin/$(basename "$0")" "$@"\n')
        stub.chmod(0o755)
        stubs.append(str(stub.relative_to(HERE)))
    return stubs


setup(
    name="robot-dog",
    version="0.1.0",
    description="Control and telemetry stack of a police patrol robot dog (ROS 2)",
    python_requires=">=3.11",
    packages=find_packages(include=["robot_dog*", "firmware_bridge*", "sim*"]),
    package_data={"robot_dog": ["config/*", "station/web/*", "station/web/vendor/*/*", "station/web/vendor/*/images/*", "teleop/web/*", "web_shared/*", "mqtt/schemas/*.json"],
                  "robot_dog.station": ["templates/*"],
                  "sim": ["scenarios/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(str(p.relative_to(HERE))
                                           for p in HERE.glob("launch/*.launch.yaml"))),
        (f"share/{PACKAGE}/launch/examples", sorted(str(p.relative_to(HERE))
                                                    for p in HERE.glob("launch/examples/*.launch.yaml"))),
        (f"lib/{PACKAGE}", _lib_executables()),
    ],
    entry_points={
        "console_scripts": ["robot-dog = robot_dog.cli.main:main"]
        + [f"{exe} = {module}:main" for exe, module in NODES.items()],
    },
)
