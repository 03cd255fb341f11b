"""Minimal talker/listener nodes (as ros2/examples) for launcher tests and demos."""
