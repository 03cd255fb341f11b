"""Custom interfaces across processes: a publisher and a service server in a child process."""
from __future__ import annotations

import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

from robot_dog.ros import qos
from robot_dog_interfaces.msg import PoliceLightState
from robot_dog_interfaces.srv import Siren

CHILD = """
import sys
import rclpy, robot_dog
from rclpy.executors import ExternalShutdownException
from robot_dog.ros import qos
from robot_dog_interfaces.msg import PoliceLightState
from robot_dog_interfaces.srv import Siren
rclpy.init()
node = rclpy.create_node('child', namespace=sys.argv[1])
pub = node.create_publisher(PoliceLightState, 'police_light/state', qos.STATE)
def on_siren(req, res):
    res.accepted = req.tone in ('wail', 'yelp', 'hilo', 'off') and 0 < req.max_duration_s <= 60
    res.code = 'ok' if res.accepted else 'out_of_limits'
    res.message = '' if res.accepted else f'tone {req.tone!r} or duration {req.max_duration_s} out of range'
    return res
node.create_service(Siren, 'megaphone/siren', on_siren)
node.create_timer(0.1, lambda: pub.publish(PoliceLightState(pattern='alternate', alternation_hz=2.0)))
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def test_pubsub_and_service_across_processes(children, ros_namespace):
    children.spawn(sys.executable, "-c", CHILD, ros_namespace)
    rclpy.init()
    try:
        node = rclpy.create_node("test_client", namespace=ros_namespace)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        got: list[PoliceLightState] = []
        node.create_subscription(PoliceLightState, "police_light/state", got.append, qos.STATE)
        client = node.create_client(Siren, "megaphone/siren")
        assert client.wait_for_service(timeout_sec=30), "service never appeared"

        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert got and got[0].pattern == "alternate" and abs(got[0].alternation_hz - 2.0) < 1e-6

        def call(tone: str, duration: float) -> Siren.Response:
            future = client.call_async(Siren.Request(tone=tone, max_duration_s=duration))
            executor.spin_until_future_complete(future, timeout_sec=30)
            assert future.done()
            return future.result()

        assert call("wail", 10.0).accepted
        refused = call("foghorn", 10.0)
        assert (refused.accepted, refused.code) == (False, "out_of_limits") and "foghorn" in refused.message
    finally:
        rclpy.try_shutdown()
