"""An MCAP file of ROS 2 messages (profile `ros2`, schemas `ros2msg`, messages `cdr`), as
rosbag2 writes them, so `ros2 bag`, Foxglove and mcap-ros2-support read it. A size cap: once
the messages written reach `max_bytes`, the file is closed and further messages are refused.
"""
from __future__ import annotations

import threading
from pathlib import Path

from mcap.writer import CompressionType, Writer


class McapFile:
    def __init__(self, path: Path, max_bytes: int = 0) -> None:
        self.path, self.max_bytes = path, max_bytes
        self.lock = threading.Lock()          # the tap's callbacks may run on several threads
        self.stream = open(path, "wb")
        self.writer = Writer(self.stream, compression=CompressionType.ZSTD)
        self.writer.start(profile="ros2", library="robot_dog")
        self.schemas: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.sequence: dict[str, int] = {}
        self.bytes = 0
        self.messages = 0
        self.closed = False

    def add_channel(self, topic: str, type_name: str, definition: str, latched: bool = False) -> None:
        with self.lock:
            if self.closed or topic in self.channels:
                return
            if type_name not in self.schemas:
                self.schemas[type_name] = self.writer.register_schema(
                    name=type_name, encoding="ros2msg", data=definition.encode())
            self.channels[topic] = self.writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self.schemas[type_name])
            self.sequence[topic] = 0

    def write(self, topic: str, data: bytes, log_time_ns: int) -> bool:
        with self.lock:
            if self.closed:
                return False
            if self.max_bytes and self.bytes + len(data) > self.max_bytes:
                self._close()
                return False
            self.writer.add_message(channel_id=self.channels[topic], log_time=log_time_ns,
                                    publish_time=log_time_ns, data=data,
                                    sequence=self.sequence[topic])
            self.sequence[topic] += 1
            self.bytes += len(data)
            self.messages += 1
            return True

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.finish()
            self.stream.close()
