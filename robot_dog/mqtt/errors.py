"""Root of the MQTT error tree: catch `MqttLinkError` at the edge (node, CLI) to report any of them."""
from __future__ import annotations


class MqttLinkError(Exception):
    """Base of every error raised by robot_dog.mqtt."""
