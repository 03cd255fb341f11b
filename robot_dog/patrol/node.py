"""patrol_node: walks the dog around a patrol route, publishing `patrol/cmd_vel` from `odom`.

The route comes from a scenario (its `route` and `route_speed`) or the `waypoints` parameter
(flat [x0, y0, x1, y1, ...], odom frame, m). It never publishes `cmd_vel` directly: the safety
mux arbitrates `patrol/cmd_vel` (lowest priority) with the officer's and station's commands.
Silence on `odom` for `odom_timeout_s` stops the commands (the mux then times the input out).
Times are the node clock's: with use_sim_time, a simulator run faster than real time keeps the
same timeouts and command rate in sim seconds.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node

from robot_dog.ros import qos
from robot_dog.ros.params import declare_read_only
from robot_dog.patrol.route import RouteConfig, RouteFollower
from robot_dog.ros.ros_main import run_node
from robot_dog.uplink.telemetry import yaw_of


class PatrolNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "patrol"), **kwargs)
        p = partial(declare_read_only, self)
        scenario = p("scenario", "", "take the route from this scenario (name or YAML path)")
        flat = p("waypoints", [0.0], "route x0, y0, x1, y1, ... in the odom frame, m")
        speed = p("speed", 0.0, "m/s along the route; 0 = the scenario's route_speed (or 0.6)")
        rate = p("rate_hz", 10.0, "command rate, Hz")
        self.odom_timeout = p("odom_timeout_s", 0.5, "stop commanding after odom silence, s")
        route, default_speed = self._route(scenario, list(flat))
        self.follower = RouteFollower(route, RouteConfig(speed=speed or default_speed))
        self.pose: tuple[float, float, float] | None = None
        self.pose_at = 0.0
        self.pub = self.create_publisher(Twist, "patrol/cmd_vel", qos.COMMAND)
        self.create_subscription(Odometry, "odom", self._on_odom, qos.TELEMETRY)
        self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f"patrol route of {len(route)} waypoints at {self.follower.config.speed} m/s")

    @staticmethod
    def _route(scenario: str, flat: list[float]) -> tuple[list[tuple[float, float]], float]:
        if scenario:
            from sim.scenario import load_scenario
            s = load_scenario(scenario)
            return list(s.route), s.route_speed
        if len(flat) < 4 or len(flat) % 2:
            raise ValueError("waypoints must be x0, y0, x1, y1, ... (at least two points)")
        return list(zip(flat[::2], flat[1::2])), 0.6

    def _on_odom(self, msg: Odometry) -> None:
        p, o = msg.pose.pose.position, msg.pose.pose.orientation
        self.pose, self.pose_at = (p.x, p.y, yaw_of(o.x, o.y, o.z, o.w)), self._now()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _tick(self) -> None:
        if self.pose is None or self._now() - self.pose_at > self.odom_timeout:
            return  # no pose: say nothing, the mux's input timeout stops the dog
        vx, wz = self.follower.command(*self.pose)
        msg = Twist()
        msg.linear.x, msg.angular.z = vx, wz
        self.pub.publish(msg)

    def close(self) -> None:
        # A zero command on the way out, as teleop does, while ROS still runs (after Ctrl-C it
        # does not: then the base's own command timeout stops the dog).
        if self.context.ok():
            self.pub.publish(Twist())


def main(args: list[str] | None = None) -> int:
    return run_node(PatrolNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
