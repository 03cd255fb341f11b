"""Live topics to the Foxglove app: a foxglove-sdk WebSocket server on 127.0.0.1 with one
channel per tapped topic (schema `ros2msg`, messages `cdr`: the bytes as they came off DDS).
Foxglove decodes them with the definitions the channels carry; nothing is sent to a channel
no client subscribes to."""
from __future__ import annotations

import threading

import foxglove
from foxglove import Channel, Context, Schema


class FoxgloveServer:
    def __init__(self, port: int = 8765, name: str = "robot_dog") -> None:
        self.context = Context()      # ours alone: no other code's channels leak into the view
        self.server = foxglove.start_server(name=name, host="127.0.0.1", port=port, context=self.context)
        self.port = self.server.port
        self.channels: dict[str, Channel] = {}
        self.lock = threading.Lock()

    def add_channel(self, topic: str, type_name: str, definition: str) -> None:
        with self.lock:
            if topic not in self.channels:
                self.channels[topic] = Channel(
                    topic, message_encoding="cdr", context=self.context,
                    schema=Schema(name=type_name, encoding="ros2msg", data=definition.encode()))

    def write(self, topic: str, data: bytes, log_time_ns: int) -> bool:
        self.channels[topic].log(data, log_time=log_time_ns)
        return True

    def close(self) -> None:
        self.server.stop()
