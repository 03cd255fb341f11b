"""Pinhole intrinsics for `camera_info` (sensor_msgs/CameraInfo, plumb_bob, no distortion):
from a vertical field of view (the simulator's rendered cameras), scaled with a resized image
(the bodycam fits its source to its own size), and to/from the message."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header


@dataclass(frozen=True)
class Pinhole:
    width: int        # px
    height: int       # px
    fx: float         # px
    fy: float         # px
    cx: float         # px, ROS convention: the centre of the top-left pixel is (0, 0)
    cy: float         # px

    def scaled(self, width: int, height: int) -> "Pinhole":
        """The same camera with the image resized to width x height (as cv2.resize does)."""
        sx, sy = width / self.width, height / self.height
        return replace(self, width=width, height=height, fx=self.fx * sx, fy=self.fy * sy,
                       cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5)


def from_fovy(width: int, height: int, fovy_deg: float) -> Pinhole:
    """An OpenGL camera (MuJoCo): square pixels, principal point at the image centre (in pixel
    centres that is (w - 1) / 2), focal length from the vertical field of view."""
    f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
    return Pinhole(width, height, f, f, (width - 1) / 2, (height - 1) / 2)


def to_msg(camera: Pinhole, header: Header) -> CameraInfo:
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    return CameraInfo(header=header, width=camera.width, height=camera.height,
                      distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


def from_msg(msg: CameraInfo) -> Pinhole | None:
    """The intrinsics of `msg`, or None when it carries none (an uncalibrated camera: k is 0)."""
    k = list(msg.k)
    if not msg.width or not msg.height or k[0] <= 0 or k[4] <= 0:
        return None
    return Pinhole(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5])
