"""Export a scenario for Gazebo (gz-sim): an SDF world and a ros_gz_bridge config with the same
ROS topic names and types as sim_node, for users who run Gazebo instead of MuJoCo.

The world carries the scenario's ground, light, geo origin (`spherical_coordinates`, for the
NavSat sensor), objects as static models, people as static figures at the start of their paths
(their walks are not exported), and the dog as a simplified model: trunk, payload (light bar,
searchlight, megaphone, bodycam mount) and the same sensors (IMU, NavSat, bodycam camera with its camera_info, the head's
laser), moved
by gz-sim's VelocityControl system from `cmd_vel` (as the kinematic mode) with OdometryPublisher
for `odom`. The Go2's legs and walking policy are MuJoCo-only: no `joint_states` in Gazebo.
Gazebo itself does not install on Debian 12; the SDF is checked with libsdformat.
"""
from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

from sim import model as M
from sim.laser import LaserConfig
from sim.scenario import Scenario

#: ROS topic (relative: the bridge runs in the dog's namespace) -> (ROS type, gz type, direction).
#: The same names and types sim_node subscribes and publishes (tested against the node).
BRIDGE = {
    "cmd_vel": ("geometry_msgs/msg/Twist", "gz.msgs.Twist", "ROS_TO_GZ"),
    "odom": ("nav_msgs/msg/Odometry", "gz.msgs.Odometry", "GZ_TO_ROS"),
    "imu/data": ("sensor_msgs/msg/Imu", "gz.msgs.IMU", "GZ_TO_ROS"),
    "fix": ("sensor_msgs/msg/NavSatFix", "gz.msgs.NavSat", "GZ_TO_ROS"),
    "camera/image_raw": ("sensor_msgs/msg/Image", "gz.msgs.Image", "GZ_TO_ROS"),
    # gz-sensors publishes a camera's info beside its image topic, as sim_node does
    "camera/camera_info": ("sensor_msgs/msg/CameraInfo", "gz.msgs.CameraInfo", "GZ_TO_ROS"),
    "scan": ("sensor_msgs/msg/LaserScan", "gz.msgs.LaserScan", "GZ_TO_ROS"),
    "/clock": ("rosgraph_msgs/msg/Clock", "gz.msgs.Clock", "GZ_TO_ROS"),
}


def gz_topic(dog: str, ros_topic: str) -> str:
    return "/clock" if ros_topic == "/clock" else f"/{dog}/{ros_topic}"


def _v(*values: float) -> str:
    return " ".join(f"{v:.6g}" for v in values)


def _box(size: tuple[float, float, float], rgba: tuple[float, ...], emissive: bool = False) -> str:
    material = f"<ambient>{_v(*rgba)}</ambient><diffuse>{_v(*rgba)}</diffuse>"
    if emissive:
        material += f"<emissive>{_v(*rgba[:3], 1)}</emissive>"
    return (f"<geometry><box><size>{_v(*size)}</size></box></geometry>"
            f"<material>{material}</material>")


def _static_model(name: str, x: float, y: float, yaw: float, shapes: list[tuple[str, str]]) -> str:
    parts = []
    for i, (pose, geometry) in enumerate(shapes):
        plain = geometry.split("<material>")[0]
        parts.append(f'<collision name="c{i}"><pose>{pose}</pose>{plain}</collision>'
                     f'<visual name="v{i}"><pose>{pose}</pose>{geometry}</visual>')
    return (f'<model name="{escape(name)}"><static>true</static><pose>{_v(x, y, 0, 0, 0, yaw)}</pose>'
            f'<link name="body">{"".join(parts)}</link></model>')


def _objects(scenario: Scenario) -> list[str]:
    out = []
    for obj in scenario.objects:
        length, width, height = obj.size
        if obj.kind in ("cylinder", "lamp_post"):
            radius = max(length, 0.05) / 2
            geometry = (f"<geometry><cylinder><radius>{radius:.4g}</radius><length>{height:.4g}</length>"
                        f"</cylinder></geometry><material><diffuse>{_v(*obj.rgba)}</diffuse></material>")
        else:
            geometry = _box((length, width, height), obj.rgba)
        out.append(_static_model(obj.name, obj.x, obj.y, obj.yaw, [(_v(0, 0, height / 2, 0, 0, 0), geometry)]))
    for i, person in enumerate(scenario.people):
        (x0, y0), (x1, y1) = person.path[0], person.path[1]
        out.append(_static_model(f"person_{i}", x0, y0, math.atan2(y1 - y0, x1 - x0),
                                 [(_v(0, 0, 0.85, 0, 0, 0), _box((0.35, 0.45, 1.7), (0.4, 0.3, 0.5, 1)))]))
    return out


def _dog(scenario: Scenario, dog: str) -> str:
    s = scenario.start
    height = 0.30   # trunk origin above the ground in the stance (sim.robot.STAND_HEIGHT)
    pitch = M.BODYCAM_PITCH
    payload = "".join([
        f'<visual name="light_red"><pose>{_v(M.LIGHT_BAR_POS[0], 0.06, M.LIGHT_BAR_POS[2] + 0.022, 0, 0, 0)}</pose>'
        f"{_box((0.048, 0.09, 0.032), M.RED_OFF)}</visual>",
        f'<visual name="light_blue"><pose>{_v(M.LIGHT_BAR_POS[0], -0.06, M.LIGHT_BAR_POS[2] + 0.022, 0, 0, 0)}</pose>'
        f"{_box((0.048, 0.09, 0.032), M.BLUE_OFF)}</visual>",
        f'<visual name="searchlight"><pose>{_v(*M.SEARCHLIGHT_POS, 0, math.pi / 2, 0)}</pose>'
        f"<geometry><cylinder><radius>0.032</radius><length>0.06</length></cylinder></geometry></visual>",
        f'<visual name="megaphone"><pose>{_v(*M.MEGAPHONE_POS, 0, math.pi / 2, 0)}</pose>'
        f"<geometry><cylinder><radius>0.022</radius><length>0.06</length></cylinder></geometry></visual>",
        f'<visual name="bodycam_mount"><pose>{_v(M.BODYCAM_POS[0], 0, M.BODYCAM_POS[2] - 0.09, 0, 0, 0)}</pose>'
        f"{_box((0.02, 0.02, 0.18), (0.12, 0.12, 0.13, 1))}</visual>",
    ])
    laser = LaserConfig()
    sensors = (
        f'<sensor name="imu" type="imu"><always_on>true</always_on><update_rate>50</update_rate>'
        f"<topic>{gz_topic(dog, 'imu/data')}</topic></sensor>"
        f'<sensor name="navsat" type="navsat"><always_on>true</always_on><update_rate>5</update_rate>'
        f"<topic>{gz_topic(dog, 'fix')}</topic></sensor>"
        f'<sensor name="bodycam" type="camera"><pose>{_v(*M.BODYCAM_POS, 0, pitch, 0)}</pose>'
        f"<always_on>true</always_on><update_rate>15</update_rate>"
        f"<topic>{gz_topic(dog, 'camera/image_raw')}</topic>"
        f"<camera><horizontal_fov>{2 * math.atan(math.tan(math.radians(M.BODYCAM_FOVY) / 2) * 640 / 480):.4f}"
        f"</horizontal_fov><image><width>640</width><height>480</height><format>B8G8R8</format></image>"
        f"<clip><near>0.03</near><far>60</far></clip></camera></sensor>"
        f'<sensor name="laser" type="gpu_lidar"><pose>{_v(*M.LASER_POS, 0, 0, 0)}</pose>'
        f"<always_on>true</always_on><update_rate>{laser.rate_hz:g}</update_rate>"
        f"<topic>{gz_topic(dog, 'scan')}</topic><lidar><scan><horizontal>"
        f"<samples>{laser.beams}</samples><resolution>1</resolution>"
        f"<min_angle>{laser.angle_min:.6f}</min_angle><max_angle>{laser.angle_max:.6f}</max_angle>"
        f"</horizontal></scan><range><min>{laser.range_min:g}</min><max>{laser.range_max:g}</max>"
        f"</range></lidar></sensor>")
    return (
        f'<model name="{dog}"><pose>{_v(s.x, s.y, height, 0, 0, s.yaw)}</pose>'
        f'<link name="base_link"><inertial><mass>15</mass></inertial>'
        f'<collision name="trunk"><geometry><box><size>0.376 0.094 0.114</size></box></geometry></collision>'
        f'<visual name="trunk">{_box((0.376, 0.094, 0.114), (0.67, 0.69, 0.77, 1))}</visual>'
        f"{payload}{sensors}</link>"
        f'<plugin filename="gz-sim-velocity-control-system" name="gz::sim::systems::VelocityControl">'
        f"<topic>{gz_topic(dog, 'cmd_vel')}</topic></plugin>"
        f'<plugin filename="gz-sim-odometry-publisher-system" name="gz::sim::systems::OdometryPublisher">'
        f"<odom_frame>odom</odom_frame><robot_base_frame>base_link</robot_base_frame>"
        f"<odom_topic>{gz_topic(dog, 'odom')}</odom_topic><dimensions>3</dimensions></plugin>"
        f"</model>")


def world_sdf(scenario: Scenario, dog: str = "dog1") -> str:
    night = scenario.lighting == "night"
    g = scenario.geo_origin
    systems = "".join(
        f'<plugin filename="gz-sim-{f}-system" name="gz::sim::systems::{n}"/>'
        for f, n in (("physics", "Physics"), ("sensors", "Sensors"), ("imu", "Imu"),
                     ("navsat", "NavSat"), ("scene-broadcaster", "SceneBroadcaster"),
                     ("user-commands", "UserCommands")))
    sun = "" if night else (
        '<light type="directional" name="sun"><cast_shadows>false</cast_shadows>'
        "<pose>0 0 20 0 0 0</pose><diffuse>0.8 0.8 0.75 1</diffuse><specular>0.1 0.1 0.1 1</specular>"
        "<direction>-0.3 -0.2 -1</direction></light>")
    lamps = "".join(
        f'<light type="spot" name="lamp_{i}"><pose>{_v(o.x, o.y, o.size[2] - 0.2, 0, 0, 0)}</pose>'
        "<diffuse>0.9 0.8 0.55 1</diffuse><direction>0 0 -1</direction>"
        "<spot><inner_angle>0.6</inner_angle><outer_angle>1.0</outer_angle><falloff>1</falloff></spot>"
        "<attenuation><range>15</range><constant>0.3</constant><linear>0.1</linear><quadratic>0.03</quadratic>"
        "</attenuation><cast_shadows>false</cast_shadows></light>"
        for i, o in enumerate(scenario.objects) if night and o.kind == "lamp_post")
    ground = ('<model name="ground"><static>true</static><link name="link">'
              '<collision name="c"><geometry><plane><normal>0 0 1</normal><size>80 80</size></plane>'
              '</geometry></collision><visual name="v"><geometry><plane><normal>0 0 1</normal>'
              '<size>80 80</size></plane></geometry><material><diffuse>0.55 0.53 0.5 1</diffuse>'
              "</material></visual></link></model>")
    ambient = "0.08 0.08 0.1 1" if night else "0.4 0.4 0.4 1"
    sky = "0.02 0.03 0.08 1" if night else "0.6 0.75 0.95 1"
    return (
        '<?xml version="1.0"?>\n'
        f'<!-- {escape(scenario.name)}: exported by `robot-dog sim export-gazebo` from {escape(Path(scenario.path).name)} -->\n'
        f'<sdf version="1.9"><world name="{escape(scenario.name)}">'
        f'<physics name="default" type="ignored"><max_step_size>{M.TIMESTEP}</max_step_size>'
        "<real_time_factor>1</real_time_factor></physics>"
        f"{systems}"
        f"<scene><ambient>{ambient}</ambient><background>{sky}</background><shadows>false</shadows></scene>"
        "<spherical_coordinates><surface_model>EARTH_WGS84</surface_model>"
        "<world_frame_orientation>ENU</world_frame_orientation>"
        f"<latitude_deg>{g.latitude}</latitude_deg><longitude_deg>{g.longitude}</longitude_deg>"
        f"<elevation>{g.altitude}</elevation><heading_deg>0</heading_deg></spherical_coordinates>"
        f"{sun}{lamps}{ground}{''.join(_objects(scenario))}{_dog(scenario, dog)}"
        "</world></sdf>\n")


def bridge_config(dog: str = "dog1") -> list[dict[str, str]]:
    """ros_gz_bridge YAML entries (run the bridge in the dog's namespace)."""
    return [{"ros_topic_name": ros, "gz_topic_name": gz_topic(dog, ros), "ros_type_name": ros_type,
             "gz_type_name": gz_type, "direction": direction}
            for ros, (ros_type, gz_type, direction) in BRIDGE.items()]


def export(scenario: Scenario, out_dir: Path, dog: str = "dog1") -> tuple[Path, Path]:
    """Write `<name>.sdf` and `<name>_bridge.yaml` into `out_dir`; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    world = out_dir / f"{scenario.name}.sdf"
    bridge = out_dir / f"{scenario.name}_bridge.yaml"
    world.write_text(world_sdf(scenario, dog))
    bridge.write_text(f"# ros_gz_bridge config for {scenario.name}: run the bridge in namespace /{dog}\n"
                      + yaml.safe_dump(bridge_config(dog), sort_keys=False))
    return world, bridge
