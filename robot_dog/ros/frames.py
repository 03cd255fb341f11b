"""The dog's TF frame names, in one place (REP 105 for the fixed frames, REP 103 axes).

Every message's `header.frame_id`, the robot description (URDF links) and the transforms on
`/tf` and `/tf_static` take their names from here, so the tree a developer sees in RViz or
Foxglove is the one the messages refer to:

    odom -> base_link                        (sim_node or a base driver, on /tf)
    base_link -> imu_link, gps_link, laser_link, light_bar, searchlight, megaphone,
                 bodycam_mount -> bodycam_link -> bodycam_optical   (robot description, /tf_static)
    base_link -> <leg>_hip -> <leg>_thigh -> <leg>_calf -> <leg>_foot  (joint_states, on /tf)
"""
from __future__ import annotations

ODOM = "odom"                        # world-fixed, continuous, drifts (REP 105)
BASE_LINK = "base_link"              # the trunk; x forward, y left, z up
IMU_LINK = "imu_link"                # sensor_msgs/Imu
GPS_LINK = "gps_link"                # sensor_msgs/NavSatFix (navsat_transform needs base_link -> it)
LASER_LINK = "laser_link"            # sensor_msgs/LaserScan from the head
LIGHT_BAR = "light_bar"              # payload: red/blue police light bar
SEARCHLIGHT = "searchlight"          # payload: searchlight (beam along +x)
MEGAPHONE = "megaphone"              # payload: megaphone horn (sound along +x)
MICROPHONE = "microphone"            # payload: sound pickup (at the megaphone's mount)
BODYCAM_MOUNT = "bodycam_mount"      # top of the bodycam mast
BODYCAM_LINK = "bodycam_link"        # the camera body: x forward, y left, z up (pitched down)
BODYCAM_OPTICAL = "bodycam_optical"  # image frame: z forward, x right, y down (REP 103 optical)

#: Frames of the payload module, in the description and on /tf_static.
PAYLOAD = (LIGHT_BAR, SEARCHLIGHT, MEGAPHONE, MICROPHONE, BODYCAM_MOUNT, BODYCAM_LINK,
           BODYCAM_OPTICAL)
#: Sensor frames the base driver's messages are stamped in.
SENSORS = (IMU_LINK, GPS_LINK, LASER_LINK)


def foot(leg: str) -> str:
    """The contact point of a leg (FL, FR, RL, RR): the centre of its foot sphere."""
    return f"{leg}_foot"
