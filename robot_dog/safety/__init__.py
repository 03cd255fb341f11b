"""Motion safety: twist arbitration, output watchdog, limits, modes and the multi-endpoint e-stop.

Pure cores (no rclpy): `twist.py` (checks), `limits.py` (speed/acceleration), `mux.py`
(priorities, timeouts, locks), `watchdog.py` (zero on silence), `estop.py` (endpoints, deadlines,
engage/release), `motion.py` (the chain the node steps); `node.py` is the ROS shell.
"""
