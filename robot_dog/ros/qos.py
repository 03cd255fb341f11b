"""QoS profiles of the stack, named by what the data is (ROS 2 examples: QoS as data)."""
from __future__ import annotations

from rclpy.duration import Duration
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

#: Camera images, audio chunks, IMU: newest wins, loss is fine, never block the publisher.
SENSOR = qos_profile_sensor_data

#: Commands (cmd_vel, set requests): reliable, shallow; a stale command is worse than none.
COMMAND = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Latched state (light, searchlight, recorder, e-stop): late joiners get the last value.
STATE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

#: Periodic telemetry (battery, diagnostics, odometry) at 1-50 Hz.
TELEMETRY = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Events for the station (handheld actions, an officer's answers): reliable and deep, so a
#: burst reaches the uplink whole; volatile: what happened before the uplink started is not news.
EVENTS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: `/tf` as tf2's broadcasters publish it: reliable, volatile, deep enough for bursts.
TF = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: `/tf_static` and `robot_description`: latched (tf2's static broadcaster: depth 1, transient
#: local), so a listener that starts later still gets the whole static tree.
LATCHED = STATE


def with_deadline(profile: QoSProfile, seconds: float) -> QoSProfile:
    """Copy of `profile` whose publisher promises a sample at least every `seconds`."""
    return QoSProfile(
        history=profile.history, depth=profile.depth, reliability=profile.reliability,
        durability=profile.durability, deadline=Duration(seconds=seconds),
    )
