"""Root of the MQTT error tree: catch `MqttLinkError` at the edge (node, CLI) to report any of them."""
from __future__ import annotations

from robot_dog.errors import RobotDogError


class MqttLinkError(RobotDogError):
    """Base of every error raised by robot_dog.mqtt."""


class NotConnected(MqttLinkError):
    """No broker connection right now (publish refused locally; the outbox keeps the message)."""
