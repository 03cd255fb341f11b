"""Patrol robot-dog stack: ROS 2 nodes, their pure-Python cores, station, teleop and CLI.

Importing the package changes nothing in the process: localhost-only discovery is applied by
the entry points that start ROS (robot_dog.ros.ros_main, the composed launcher, the teleop
CLI, `python -m robot_dog.ros.localhost`, the launcher's children), so a real base driver that
needs DDS over Ethernet can still import the stack's cores.
"""

__version__ = "0.1.0"
