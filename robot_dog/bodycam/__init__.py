"""Bodycam (law-enforcement recorder): image source, overlay, and the ROS node."""
