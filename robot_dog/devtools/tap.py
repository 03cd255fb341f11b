"""The tap: a ROS node that finds the selected topics as they appear and subscribes to each as
serialized CDR (`raw=True`: nothing is decoded), handing every message to a sink.

QoS follows the publishers, as rosbag2 does: reliable only if every publisher is, transient
local (latched: `/tf_static`, `robot_description`, states) if any publisher is, so latched
values are received by a late tap and best-effort sensors are not missed.
"""
from __future__ import annotations

import importlib
from typing import Protocol

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from robot_dog.devtools.schemas import SchemaMissing, full_definition
from robot_dog.devtools.selection import Selection

DISCOVERY_PERIOD_S = 0.5


class Sink(Protocol):
    def add_channel(self, topic: str, type_name: str, definition: str, latched: bool = False) -> None: ...
    def write(self, topic: str, data: bytes, log_time_ns: int) -> bool: ...   # False: full


def message_class(type_name: str) -> type:
    """`pkg/msg/Name` -> the generated Python class."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class Tap(Node):
    def __init__(self, sink: Sink, selection: Selection, **kwargs: object) -> None:
        super().__init__(kwargs.pop("node_name", "robot_dog_tap"), **kwargs)  # type: ignore[arg-type]
        self.sink, self.selection = sink, selection
        self.topics: dict[str, str] = {}          # topic -> type, subscribed
        self.refused: set[str] = set()            # topics logged as unrecordable
        self.full = False
        self.received = 0
        self.create_timer(DISCOVERY_PERIOD_S, self.discover)
        self.discover()

    def discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self.topics or topic in self.refused or topic not in self.selection:
                continue
            if len(types) != 1:
                self._refuse(topic, f"has {len(types)} types {types}")
                continue
            try:
                definition = full_definition(types[0])
                cls = message_class(types[0])
            except (SchemaMissing, ImportError, AttributeError, ValueError) as exc:
                self._refuse(topic, str(exc))
                continue
            qos = self._qos(topic)
            self.sink.add_channel(topic, types[0], definition,
                                  latched=qos.durability == DurabilityPolicy.TRANSIENT_LOCAL)
            self.create_subscription(cls, topic, lambda data, t=topic: self._on_message(t, data),
                                     qos, raw=True)
            self.topics[topic] = types[0]
            self.get_logger().info(f"tapping {topic} ({types[0]})")

    def _refuse(self, topic: str, reason: str) -> None:
        self.refused.add(topic)
        self.get_logger().warning(f"not taking {topic}: {reason}")

    def _qos(self, topic: str) -> QoSProfile:
        publishers = self.get_publishers_info_by_topic(topic)
        reliable = bool(publishers) and all(
            p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers)
        latched = any(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                          reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

    def _on_message(self, topic: str, data: bytes) -> None:
        if self.full:
            return
        self.received += 1
        if not self.sink.write(topic, data, self.get_clock().now().nanoseconds):
            self.full = True
            self.get_logger().warning("size cap reached: recording stopped")
