"""Installs robot_dog, firmware_bridge and sim with one console script per node."""
from pathlib import Path

from setuptools import find_packages, setup

# The node registry is plain data; read it without importing the package (no rclpy at build).
_registry: dict = {}
exec(Path(__file__).with_name("robot_dog").joinpath("node_registry.py").read_text(), _registry)
NODES = {exe: target.split(":")[0] for exe, target in _registry["NODES"].items()}

setup(
    name="robot-dog",
    version="0.1.0",
    description="Control and telemetry stack of a police patrol robot dog (ROS 2)",
    python_requires=">=3.11",
    packages=find_packages(include=["robot_dog*", "firmware_bridge*", "sim*"]),
    package_data={"robot_dog": ["config/*", "station/web/*", "mqtt/schemas/*.json"],
                  "sim": ["scenarios/*.yaml"]},
    entry_points={
        "console_scripts": ["robot-dog = robot_dog.cli:main"]
        + [f"{exe} = {module}:main" for exe, module in NODES.items()],
    },
)
