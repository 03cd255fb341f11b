"""Live topics to the Foxglove app: a foxglove-sdk WebSocket server on 127.0.0.1 with one
channel per tapped topic (schema `ros2msg`, messages `cdr`: the bytes as they came off DDS).
Foxglove decodes them with the definitions the channels carry; nothing is sent to a channel
no client subscribes to.

Latched topics (`/tf_static`, `robot_description`) are published once; a client that subscribes
later still needs them (the 3D panel draws nothing without the model and the static frames), so
their last message is logged again after each new subscription, with the next message that
passes through (the server's callback thread does not log itself)."""
from __future__ import annotations

import threading

import foxglove
from foxglove import Channel, Context, Schema
from foxglove.websocket import ChannelView, Client, ServerListener


class FoxgloveServer(ServerListener):   # the listener's other callbacks are its no-ops
    def __init__(self, port: int = 8765, name: str = "robot_dog") -> None:
        self.context = Context()      # ours alone: no other code's channels leak into the view
        self.channels: dict[str, Channel] = {}
        self.latched: dict[str, tuple[bytes, int] | None] = {}   # topic -> last message
        self.replay: set[str] = set()                              # latched, newly subscribed
        self.lock = threading.Lock()
        self.server = foxglove.start_server(name=name, host="127.0.0.1", port=port,
                                            context=self.context, server_listener=self)
        self.port = self.server.port

    def add_channel(self, topic: str, type_name: str, definition: str, latched: bool = False) -> None:
        with self.lock:
            if topic not in self.channels:
                self.channels[topic] = Channel(
                    topic, message_encoding="cdr", context=self.context,
                    schema=Schema(name=type_name, encoding="ros2msg", data=definition.encode()))
                if latched:
                    self.latched[topic] = None

    def on_subscribe(self, client: Client, channel: ChannelView) -> None:
        with self.lock:
            if channel.topic in self.latched:
                self.replay.add(channel.topic)

    def write(self, topic: str, data: bytes, log_time_ns: int) -> bool:
        with self.lock:
            if topic in self.latched:
                self.latched[topic] = (data, log_time_ns)
            again = [(t, self.latched[t]) for t in self.replay if t != topic]
            self.replay.clear()
        for latched_topic, last in again:
            if last is not None:
                self.channels[latched_topic].log(last[0], log_time=last[1])
        self.channels[topic].log(data, log_time=log_time_ns)
        return True

    def close(self) -> None:
        self.server.stop()
