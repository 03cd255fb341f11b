"""The dog's Foxglove layout, built with foxglove-sdk's layout types (so the file is in the
format the app reads): a 3D view (the robot model from `robot_description`, the TF frames, the
laser scan, following base_link in odom), the bodycam with its camera_info, plots of the
commanded and measured speed, and the diagnostics. docs/foxglove/robot_dog.layout.json is
`python -m robot_dog.devtools.foxglove_layout /dog1`; a test keeps the two the same."""
from __future__ import annotations

import json
import sys

import foxglove.layouts as fl

from robot_dog.ros import frames


def layout(namespace: str = "/dog1") -> fl.Layout:
    ns = namespace.rstrip("/")
    three_d = fl.ThreeDeePanel(config=fl.ThreeDeeConfig(
        follow_tf=frames.BASE_LINK, fixed_frame=frames.ODOM, follow_mode="follow-position",
        layers={"grid": fl.BaseRendererGridLayerSettings(layer_id="foxglove.Grid", label="Grid"),
                "robot": fl.BaseRendererUrdfLayerSettings(
                    layer_id="foxglove.Urdf", label="Go2 with payload", source_type="topic",
                    topic=f"{ns}/robot_description", display_mode="visual")},
        topics={f"{ns}/scan": fl.BaseRendererLaserScanTopicSettings(visible=True, point_size=4.0),
                f"{ns}/odom": fl.BaseRendererPoseTopicSettings(visible=True)}))
    camera = fl.ImagePanel(config=fl.ImageConfig(image_mode=fl.ImageModeConfig(
        image_topic=f"{ns}/camera/image_raw", calibration_topic=f"{ns}/camera/camera_info")))
    speed = fl.PlotPanel(config=fl.PlotConfig(paths=[
        fl.PlotSeries(value=f"{ns}/cmd_vel.linear.x", label="commanded vx (m/s)"),
        fl.PlotSeries(value=f"{ns}/odom.twist.twist.linear.x", label="odometry vx (m/s)"),
        fl.PlotSeries(value=f"{ns}/odom.twist.twist.angular.z", label="odometry wz (rad/s)")]))
    diagnostics = fl.DiagnosticsSummaryPanel(config=fl.DiagnosticsSummaryConfig(topic_to_render="/diagnostics"))
    return fl.Layout(content=fl.SplitContainer(direction="row", items=[
        fl.SplitItem(proportion=3, content=three_d),
        fl.SplitItem(proportion=2, content=fl.SplitContainer(direction="column", items=[
            fl.SplitItem(proportion=2, content=camera),
            fl.SplitItem(proportion=1, content=speed),
            fl.SplitItem(proportion=1, content=diagnostics)]))]))


def layout_json(namespace: str = "/dog1") -> str:
    """Indented and key-sorted: a stable file to diff."""
    return json.dumps(json.loads(layout(namespace).to_json()), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(layout_json(sys.argv[1] if len(sys.argv) > 1 else "/dog1"))
