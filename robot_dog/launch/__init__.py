"""Bringup launcher: ROS 2 YAML launch files run as supervised processes or composed in one.

`description` parses and validates (pure), `policy` decides (pure), `runner` supervises child
processes, `compose` runs every node in one executor, `cli` is `robot-dog launch`.
Import `robot_dog.launch.compose` only when composing: it pulls in rclpy.
"""
from robot_dog.launch.description import LaunchDescription, NodeSpec, load, parse
from robot_dog.launch.errors import LaunchError, LaunchFileError

__all__ = ["LaunchDescription", "LaunchError", "LaunchFileError", "NodeSpec", "load", "parse"]
