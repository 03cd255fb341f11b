"""The robot description (URDF) of the simulated Go2 with its payload, derived from the MuJoCo
model the simulator runs, so the TF tree and the physics can never disagree.

`describe(model)` walks the robot's bodies, sites and bodycam into links and joints named by
`robot_dog.ros.frames`; `to_urdf` writes the URDF `robot_description` carries;
`static_transforms` are the fixed joints (for `/tf_static`) and `moving_transforms(positions)`
the legs' revolute joints at the given angles (for `/tf`), as robot_state_publisher computes them.
Pure (numpy and mujoco only; no rclpy): transforms are (parent, child, xyz, quaternion w x y z).

Visuals and collisions are the model's primitive shapes (the collision boxes, capsules and spheres
of the legs and trunk, the payload's shapes); the Go2's detailed meshes are left out (~200k faces,
files of the assets package). URDF has no capsule: a capsule is drawn as its cylinder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

import mujoco
import numpy as np

from robot_dog.ros import frames
from sim import robot as R
from sim.model import BODYCAM_PITCH

Quaternion = tuple[float, float, float, float]          # w, x, y, z
Vector = tuple[float, float, float]


@dataclass(frozen=True)
class Shape:
    kind: str                    # box | cylinder | sphere
    size: tuple[float, ...]      # box: full lengths x y z; cylinder: radius, length; sphere: radius
    xyz: Vector
    quat: Quaternion
    rgba: tuple[float, float, float, float]
    collides: bool


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str                    # fixed | revolute
    parent: str
    child: str
    xyz: Vector
    quat: Quaternion
    axis: Vector = (0.0, 0.0, 1.0)
    limits: tuple[float, float] = (0.0, 0.0)   # rad
    effort: float = 0.0          # N m


@dataclass(frozen=True)
class Transform:
    parent: str
    child: str
    xyz: Vector
    quat: Quaternion             # w, x, y, z


@dataclass
class Description:
    name: str
    links: dict[str, list[Shape]] = field(default_factory=dict)
    joints: list[Joint] = field(default_factory=list)

    def fixed(self) -> list[Joint]:
        return [j for j in self.joints if j.kind == "fixed"]

    def revolute(self) -> dict[str, Joint]:
        return {j.name: j for j in self.joints if j.kind == "revolute"}


#: MuJoCo body -> link name: the trunk is base_link; legs and payload keep their body names.
def _link(body: str) -> str:
    return frames.BASE_LINK if body == R.TRUNK else body


_SHAPES = {int(mujoco.mjtGeom.mjGEOM_BOX): "box", int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
           int(mujoco.mjtGeom.mjGEOM_CAPSULE): "cylinder", int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere"}
_COLLISION_GROUP, _PAYLOAD_GROUP = 3, 1
#: The bodycam's optical frame seen from its body frame (REP 103: z forward, x right, y down).
OPTICAL_FROM_BODY: Quaternion = (0.5, -0.5, 0.5, -0.5)


def _quat(q: np.ndarray) -> Quaternion:
    w, x, y, z = (float(v) for v in q)
    return (w, x, y, z)


def _vec(v: np.ndarray) -> Vector:
    a, b, c = (float(x) for x in v)
    return (a, b, c)


def describe(model: mujoco.MjModel) -> Description:
    """The robot of `model` (a compiled sim.model: robot alone or in a scene) as links and joints."""
    desc = Description(name="go2_patrol")
    trunk = model.body(R.TRUNK).id
    robot = [b for b in range(model.nbody) if b == trunk or _descends(model, b, trunk)]
    for b in robot:
        desc.links[_link(model.body(b).name)] = _shapes(model, b)
    for b in robot:
        if b == trunk:
            continue
        name, parent = model.body(b).name, _link(model.body(model.body_parentid[b]).name)
        xyz, quat = _vec(model.body_pos[b]), _quat(model.body_quat[b])
        if model.body_jntnum[b] == 0:
            desc.joints.append(Joint(f"{name}_mount", "fixed", parent, name, xyz, quat))
            continue
        j = int(model.body_jntadr[b])
        if np.any(model.jnt_pos[j]):   # the Go2's joints sit at their bodies' origins
            raise ValueError(f"joint {model.joint(j).name} is not at its body's origin")
        actuator = [a for a in range(model.nu) if model.actuator_trnid[a, 0] == j]
        effort = float(model.actuator_ctrlrange[actuator[0], 1]) if actuator else 0.0
        low, high = (float(v) for v in model.jnt_range[j])
        desc.joints.append(Joint(model.joint(j).name, "revolute", parent, name, xyz, quat,
                                 _vec(model.jnt_axis[j]), (low, high), effort))
    identity = (1.0, 0.0, 0.0, 0.0)
    for site in (R.IMU_SITE, R.GPS_SITE, R.LASER_SITE, R.MICROPHONE_SITE):
        s = model.site(site)
        child = frames.IMU_LINK if site == R.IMU_SITE else site
        desc.links[child] = []
        desc.joints.append(Joint(f"{child}_mount", "fixed", _link(model.body(s.bodyid[0]).name),
                                 child, _vec(s.pos), _quat(s.quat)))
    for leg in R.LEGS_MODEL:
        g = model.geom(leg)   # the foot sphere, named after its leg
        desc.links[frames.foot(leg)] = []
        desc.joints.append(Joint(f"{leg}_foot_fixed", "fixed", _link(model.body(g.bodyid[0]).name),
                                 frames.foot(leg), _vec(g.pos), identity))
    camera = model.camera(R.BODYCAM)
    half = BODYCAM_PITCH / 2   # the camera body pitched down: a positive turn about y
    desc.links[frames.BODYCAM_LINK] = []
    desc.links[frames.BODYCAM_OPTICAL] = []
    desc.joints.append(Joint("bodycam_joint", "fixed", _link(model.body(camera.bodyid[0]).name),
                             frames.BODYCAM_LINK, _vec(camera.pos),
                             (math.cos(half), 0.0, math.sin(half), 0.0)))
    desc.joints.append(Joint("bodycam_optical_joint", "fixed", frames.BODYCAM_LINK,
                             frames.BODYCAM_OPTICAL, (0.0, 0.0, 0.0), OPTICAL_FROM_BODY))
    return desc


def _descends(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
    while body != 0:
        body = int(model.body_parentid[body])
        if body == ancestor:
            return True
    return False


def _shapes(model: mujoco.MjModel, body: int) -> list[Shape]:
    shapes = []
    for g in range(model.ngeom):
        kind = _SHAPES.get(int(model.geom_type[g]))
        group = int(model.geom_group[g])
        if model.geom_bodyid[g] != body or kind is None or group not in (_COLLISION_GROUP, _PAYLOAD_GROUP):
            continue
        s = model.geom_size[g]
        if kind == "box":
            size: tuple[float, ...] = (2 * float(s[0]), 2 * float(s[1]), 2 * float(s[2]))
        elif kind == "cylinder":
            size = (float(s[0]), 2 * float(s[1]))
        else:
            size = (float(s[0]),)
        mat = int(model.geom_matid[g])
        rgba = model.mat_rgba[mat] if mat >= 0 else model.geom_rgba[g]
        r, gr, b, a = (float(v) for v in rgba)
        shapes.append(Shape(kind, size, _vec(model.geom_pos[g]), _quat(model.geom_quat[g]),
                            (r, gr, b, a), group == _COLLISION_GROUP))
    return shapes


# ---- transforms ------------------------------------------------------------------------------
def quat_multiply(a: Quaternion, b: Quaternion) -> Quaternion:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw)


def static_transforms(desc: Description) -> list[Transform]:
    return [Transform(j.parent, j.child, j.xyz, j.quat) for j in desc.fixed()]


def moving_transforms(desc: Description, positions: dict[str, float]) -> list[Transform]:
    """The revolute joints at `positions` (rad by joint name; a missing joint is at 0)."""
    out = []
    for j in desc.revolute().values():
        half = positions.get(j.name, 0.0) / 2
        s = math.sin(half)
        turn = (math.cos(half), j.axis[0] * s, j.axis[1] * s, j.axis[2] * s)
        out.append(Transform(j.parent, j.child, j.xyz, quat_multiply(j.quat, turn)))
    return out


# ---- URDF ------------------------------------------------------------------------------------
def _rpy(q: Quaternion) -> Vector:
    w, x, y, z = q
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return (roll, pitch, yaw)


def _numbers(values: tuple[float, ...]) -> str:
    return " ".join(f"{v:.6g}" for v in values)


def _origin(xyz: Vector, quat: Quaternion) -> str:
    return f'<origin xyz="{_numbers(xyz)}" rpy="{_numbers(_rpy(quat))}"/>'


def _geometry(shape: Shape) -> str:
    if shape.kind == "box":
        return f'<box size="{_numbers(shape.size)}"/>'
    if shape.kind == "cylinder":
        return f'<cylinder radius="{shape.size[0]:.6g}" length="{shape.size[1]:.6g}"/>'
    return f'<sphere radius="{shape.size[0]:.6g}"/>'


def to_urdf(desc: Description) -> str:
    lines = ['<?xml version="1.0"?>',
             "<!-- Generated from the simulator's MuJoCo model (sim/description.py); the Go2 "
             "(BSD-3-Clause, Unitree) with the patrol payload. -->",
             f"<robot name={quoteattr(desc.name)}>"]
    for link, shapes in desc.links.items():
        lines.append(f"  <link name={quoteattr(link)}>")
        for i, shape in enumerate(shapes):
            origin, geometry = _origin(shape.xyz, shape.quat), _geometry(shape)
            colour = " ".join(f"{v:.3g}" for v in shape.rgba)
            lines.append(f'    <visual>{origin}<geometry>{geometry}</geometry>'
                         f'<material name="{link}_{i}"><color rgba="{colour}"/></material></visual>')
            if shape.collides:
                lines.append(f"    <collision>{origin}<geometry>{geometry}</geometry></collision>")
        lines.append("  </link>")
    for j in desc.joints:
        lines.append(f"  <joint name={quoteattr(j.name)} type={quoteattr(j.kind)}>")
        lines.append(f"    <parent link={quoteattr(j.parent)}/><child link={quoteattr(j.child)}/>")
        lines.append(f"    {_origin(j.xyz, j.quat)}")
        if j.kind == "revolute":
            lines.append(f'    <axis xyz="{_numbers(j.axis)}"/>')
            lines.append(f'    <limit lower="{j.limits[0]:.6g}" upper="{j.limits[1]:.6g}" '
                         f'effort="{j.effort:.6g}" velocity="30"/>')
        lines.append("  </joint>")
    lines.append("</robot>")
    return "\n".join(lines) + "\n"
