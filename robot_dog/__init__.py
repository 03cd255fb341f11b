"""Patrol robot-dog stack: ROS 2 nodes, their pure-Python cores, station, teleop and CLI."""
from robot_dog.ros import dds_env as _dds_env

# Any process that imports the stack gets localhost-only discovery before rclpy can start a
# participant: a forgotten call somewhere must not be able to multicast off-machine.
_dds_env.apply()

__version__ = "0.1.0"
