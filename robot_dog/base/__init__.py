"""The legged base's interface: `cmd_vel` (geometry_msgs/Twist) and `base/set_mode`
(robot_dog_interfaces/SetBaseMode: stand/sit/damp) in; `odom` (nav_msgs/Odometry) and the latched
`base/state` (BaseState) out. The real dog's locomotion controller is external; `echo.py` is a
minimal backend that echoes commands as odometry (the ros2_control mock-system idea), and the
simulator's node implements the same interface.
"""
