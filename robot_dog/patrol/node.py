"""patrol_node: the dog's autonomous motion, on `patrol/cmd_vel` from `odom`.

Two kinds of work, one at a time (a new one pre-empts the old):
- the patrol route at start-up (`patrol_at_start`): a scenario's `route` and `route_speed` or the
  `waypoints` parameter (flat [x0, y0, x1, y1, ...], odom frame, m), walked round and round;
- goals: the actions `navigate_to` (NavigateTo: one point) and `follow_route` (FollowRoute: the
  named route "patrol", "home" (the `home` point: return) or explicit waypoints, once or
  looping), in the odom frame or as latitude/longitude through the same geo origin as `fix` (the
  scenario's, or `geo_origin`);
- `patrol/cancel` (CancelGoal) ends whatever runs with "cancelled", whoever started it.

With a scenario the node has the street's map: a goal's point inside one of its objects is
refused (`in_obstacle`, obstacles.py). Without one (a dog with no map) such a point is taken and
ends `blocked` once the dog stops making progress.

Its work, whoever sent it, is on `patrol/goal` (GoalState, latched: label, state, distance
left, ETA, target, the waypoints), which the uplink turns into telemetry and an event when a goal ends.

It never publishes `cmd_vel`: safety_node arbitrates `patrol/cmd_vel` (the lowest priority), so a
handheld takes over at once and the limits and the watchdog apply; after a stop the patrol input
waits for `motion/resume` (the restart interlock). A goal waits while another input drives, ends
with "estop" when the e-stop engages (a release never resumes it: send a new goal) and with an
honest outcome otherwise (robot_dog/patrol/goal.py). After a goal the dog stays where it is.
Silence on `odom` for `odom_timeout_s` stops the commands (the mux then times the input out).
Times are the node clock's (odom freshness, goal timeouts and progress): with use_sim_time, a
simulator run faster than real time keeps them in sim seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from robot_dog_interfaces.action import FollowRoute, NavigateTo
from robot_dog_interfaces.msg import EstopState, GoalState, MotionState
from robot_dog_interfaces.srv import CancelGoal

from robot_dog.errors import Refused, answer
from robot_dog.patrol.goal import (RUNNING_STATES, GoalConfig, GoalRefused, GoalTracker, Outcome, Point,
                                   check_point)
from robot_dog.patrol.obstacles import Footprint, footprints
from robot_dog.ros import qos
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from robot_dog.uplink.telemetry import yaw_of

PATROL_ROUTE = "patrol"   # the name of the node's own route in FollowRoute
HOME_ROUTE = "home"       # FollowRoute to the `home` point: the station's `return`
GOAL_STATE_PERIOD_S = 1.0  # patrol/goal while work runs (and on every change)
ODOM_WAIT_S = 2.0          # a goal waits this long for the first odometry before no_odometry


@dataclass
class _Work:
    tracker: GoalTracker
    handle: ServerGoalHandle | None   # None: the start-up patrol
    label: str
    ended_with_zero: bool = False     # the one zero command after its outcome went out


class PatrolNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "patrol"), **kwargs)
        p = partial(declare_read_only, self)
        scenario = p("scenario", "", "take the route and geo origin from this scenario (name or YAML path)")
        flat = p("waypoints", [0.0], "route x0, y0, x1, y1, ... in the odom frame, m")
        speed = p("speed", 0.0, "m/s along the route; 0 = the scenario's route_speed (or 0.6)")
        rate = p("rate_hz", 10.0, "command rate, Hz")
        self.odom_timeout = p("odom_timeout_s", 0.5, "stop commanding after odom silence, s")
        origin = p("geo_origin", [0.0], "latitude deg, longitude deg, altitude m of odom's origin "
                                        "(goals in wgs84); unused with a scenario")
        at_start = p("patrol_at_start", True, "walk the route from start-up (else wait for a goal)")
        home = p("home", [0.0, 0.0], "x, y of the home point in the odom frame, m (return goes "
                                     "there; default: where odom began)")
        if len(home) != 2 or not all(math.isfinite(v) for v in home):
            raise ValueError("home must be x, y (two finite numbers)")
        self.home: Point = (float(home[0]), float(home[1]))
        self.route, default_speed, self.origin, self.obstacles = self._route(
            scenario, list(flat), list(origin))
        self.goal_config = GoalConfig(
            speed=speed or default_speed,
            tolerance_m=p("goal_tolerance_m", 0.5, "a goal is reached within this, m"),
            max_distance_m=p("max_goal_distance_m", 200.0, "farthest waypoint a goal may name, m"),
            blocked_after_s=p("blocked_after_s", 10.0, "driving without moving this long = blocked, s"))
        self.pose: tuple[float, float, float] | None = None
        self.pose_at = 0.0
        self.winner = ""
        self.work: _Work | None = None
        self._ticked: list[Future] = []     # awaited by goal loops; completed by each tick
        self.pub = self.create_publisher(Twist, "patrol/cmd_vel", qos.COMMAND)
        self.goal_pub = self.create_publisher(GoalState, "patrol/goal", qos.STATE)
        self._goal_sent: tuple[tuple[str, str], float] = (("", ""), -math.inf)
        self.create_service(CancelGoal, "patrol/cancel", self._on_cancel)
        self.create_subscription(Odometry, "odom", self._on_odom, qos.TELEMETRY)
        self.create_subscription(EstopState, "estop", self._on_estop, qos.STATE)
        self.create_subscription(MotionState, "motion/state", self._on_motion, qos.STATE)
        goals = ReentrantCallbackGroup()
        for name, action in (("navigate_to", NavigateTo), ("follow_route", FollowRoute)):
            ActionServer(self, action, name, self._execute, goal_callback=lambda _g: GoalResponse.ACCEPT,
                         cancel_callback=lambda _g: CancelResponse.ACCEPT, callback_group=goals)
        self.create_timer(1.0 / rate, self._tick)
        if at_start and not self.route:
            raise ValueError("patrol_at_start needs a route: a scenario or waypoints")
        if at_start:
            self.work = _Work(GoalTracker(self.route, self._now(), self.goal_config, loop=True,
                                          timeout_s=math.inf), None, PATROL_ROUTE)
        self.get_logger().info(f"patrol route of {len(self.route)} waypoints at "
                               f"{self.goal_config.speed} m/s ({'walking' if at_start else 'waiting for a goal'})")

    @staticmethod
    def _route(scenario: str, flat: list[float], origin: list[float]
               ) -> tuple[list[Point], float, Any, tuple[Footprint, ...]]:
        """(route, default speed, geo origin, the map's footprints) from the parameters."""
        from sim.scenario import GeoOrigin
        if scenario:
            from sim.scenario import load_scenario
            s = load_scenario(scenario)
            return [tuple(p) for p in s.route], s.route_speed, s.geo_origin, footprints(s.objects)
        geo = GeoOrigin(*origin[:3]) if len(origin) >= 2 else None
        if flat == [0.0]:
            return [], 0.6, geo, ()   # no route of its own: goals only
        if len(flat) < 4 or len(flat) % 2:
            raise ValueError("waypoints must be x0, y0, x1, y1, ... (at least two points)")
        return list(zip(flat[::2], flat[1::2])), 0.6, geo, ()

    # ---- inputs ----------------------------------------------------------------------------
    def _now(self) -> float:
        """s on the node clock (sim time with use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _pose_fresh(self) -> bool:
        return self.pose is not None and self._now() - self.pose_at <= self.odom_timeout

    def _on_odom(self, msg: Odometry) -> None:
        p, o = msg.pose.pose.position, msg.pose.pose.orientation
        self.pose, self.pose_at = (p.x, p.y, yaw_of(o.x, o.y, o.z, o.w)), self._now()

    def _on_motion(self, msg: MotionState) -> None:
        self.winner = msg.winner

    def _on_estop(self, msg: EstopState) -> None:
        work = self.work
        if msg.engaged and work is not None and work.handle is not None and work.tracker.outcome is None:
            work.tracker.finish(Outcome.ESTOP, f"e-stop engaged: {msg.reason}")
            self.get_logger().warning(f"goal {work.label} ended by the e-stop; a release does not resume it")

    # ---- goals -----------------------------------------------------------------------------
    def _waypoints(self, request: Any) -> tuple[list[Point], bool, str]:
        """(checked waypoints in odom, loop, label) of a NavigateTo or FollowRoute goal."""
        here = self.pose[:2] if self.pose is not None else None
        if isinstance(request, NavigateTo.Goal):
            raw, loop, label = [(request.x, request.y)], False, f"navigate_to {request.frame}"
        elif request.route == HOME_ROUTE:
            return [check_point(self.home, here, self.goal_config, self.obstacles)], False, "return home"
        elif request.route:
            if request.route != PATROL_ROUTE or not self.route:
                known = ", ".join([PATROL_ROUTE] * bool(self.route) + [HOME_ROUTE])
                raise GoalRefused("unknown_route", f"no route {request.route!r}; known: {known}")
            return list(self.route), request.loop, f"follow_route {PATROL_ROUTE}"
        else:
            flat = list(request.waypoints)
            if len(flat) < 2 or len(flat) % 2:
                raise GoalRefused("bad_waypoints", "waypoints are x0, y0, x1, y1, ... (one point at least)")
            raw, loop, label = list(zip(flat[::2], flat[1::2])), request.loop, f"follow_route ({len(flat) // 2} points)"
        frame = request.frame or "odom"
        if frame == "wgs84":
            if self.origin is None:
                raise GoalRefused("no_geo_origin", "latitude/longitude goals need a scenario or geo_origin")
            from sim.geo import to_local
            for lat, lon in raw:
                if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
                    raise GoalRefused("not_finite", f"({lat}, {lon}) is no latitude/longitude")
            raw = [to_local(self.origin, lat, lon) for lat, lon in raw]
        elif frame != "odom":
            raise GoalRefused("unknown_frame", f"frame {frame!r}; known: odom, wgs84")
        return [check_point(p, here, self.goal_config, self.obstacles) for p in raw], loop, label

    async def _execute(self, handle: ServerGoalHandle) -> Any:
        action = NavigateTo if isinstance(handle.request, NavigateTo.Goal) else FollowRoute
        request = handle.request
        # A goal that comes with the node's first moments (a dispatch right after start-up) waits
        # up to ODOM_WAIT_S for the first odometry rather than being refused at once.
        wait_until = self._now() + ODOM_WAIT_S
        while not self._pose_fresh() and self._now() < wait_until:
            tick: Future = Future()
            self._ticked.append(tick)
            await tick
        try:
            if not self._pose_fresh():
                raise GoalRefused("no_odometry", "the dog's position is unknown (no odom)")
            points, loop, label = self._waypoints(request)
            config = self.goal_config
            if request.speed > 0:  # the mux's caps still apply on top
                config = replace(config, speed=float(request.speed))
            if isinstance(request, NavigateTo.Goal) and request.tolerance_m > 0:
                config = replace(config, tolerance_m=float(request.tolerance_m))
            tracker = GoalTracker(points, self._now(), config, loop=loop,
                                  timeout_s=float(request.timeout_s) or (math.inf if loop else 0.0))
        except GoalRefused as refused:
            self.get_logger().warning(f"goal refused ({refused.code}): {refused.detail}")
            # Said on patrol/goal too: whoever sent it over a link (the station's `goto`) hears
            # the code from the uplink's goal event; the work that ran goes on.
            self.goal_pub.publish(GoalState(
                label="navigate_to" if action is NavigateTo else "follow_route", state="refused",
                detail=f"{refused.code}: {refused.detail}", target_x=math.nan, target_y=math.nan))
            if self.work is not None and self.work.tracker.outcome is None:
                # the running work's state again next tick; an ended work's state is not sent
                # again: it would follow the refusal at once, and a reader keeping only the
                # newest state (the uplink, under load) would never hear the refusal
                self._goal_sent = (("", ""), -math.inf)
            handle.abort()
            return action.Result(outcome="refused", code=refused.code, detail=refused.detail)
        previous, self.work = self.work, _Work(tracker, handle, label)
        if previous is not None and previous.tracker.outcome is None:
            previous.tracker.finish(Outcome.PREEMPTED, f"pre-empted by {label}")
        self.get_logger().info(f"goal {label}: {len(points)} waypoint(s), {tracker.config.speed:g} m/s")
        progress = None
        while tracker.outcome is None:
            if handle.is_cancel_requested:
                tracker.finish(Outcome.CANCELLED, "cancelled by the caller")
                break
            tick: Future = Future()
            self._ticked.append(tick)
            progress = await tick
            if progress is not None:
                handle.publish_feedback(action.Feedback(
                    waypoint_index=progress.waypoint_index, distance_left_m=progress.distance_left_m,
                    eta_s=progress.eta_s, waiting=progress.waiting))
        outcome = tracker.outcome
        assert outcome is not None
        left = progress.distance_left_m if progress is not None else math.nan
        self.get_logger().info(f"goal {label}: {outcome.value} ({tracker.detail})")
        if outcome is Outcome.ARRIVED:
            handle.succeed()
        elif outcome is Outcome.CANCELLED and handle.is_cancel_requested:
            handle.canceled()   # (cancelled through patrol/cancel: the action only knows abort)
        else:
            handle.abort()
        return action.Result(outcome=outcome.value, detail=tracker.detail, distance_left_m=left)

    # ---- output ----------------------------------------------------------------------------
    def _tick(self) -> None:
        progress = None
        work = self.work
        if work is not None and self._pose_fresh():
            assert self.pose is not None
            (vx, wz), progress = work.tracker.step(self.pose, self._now(),
                                                   driving=self.winner == "patrol")
            if work.tracker.outcome is None:
                msg = Twist()
                msg.linear.x, msg.angular.z = vx, wz
                self.pub.publish(msg)
            elif not work.ended_with_zero:
                # An ending is a clean stop, as a let-go is: one zero, then silence. The mux then
                # keeps the patrol input armed for the next goal; silence mid-drive would not.
                work.ended_with_zero = True
                self.pub.publish(Twist())
            elif work.handle is None:   # the start-up patrol stopped (blocked): say so, once
                self.get_logger().warning(f"patrol route: {work.tracker.outcome.value} "
                                          f"({work.tracker.detail}); send follow_route to walk it again")
                self.work = None
        # no pose: say nothing, the mux's input timeout stops the dog
        self._publish_goal(work, progress)
        waiting, self._ticked = self._ticked, []
        for tick in waiting:
            tick.set_result(progress)

    def _on_cancel(self, request: CancelGoal.Request, response: CancelGoal.Response) -> CancelGoal.Response:
        work = self.work
        if work is None or work.tracker.outcome is not None:
            return answer(response, Refused("no_goal", "nothing to cancel"))
        work.tracker.finish(Outcome.CANCELLED, f"cancelled by {request.endpoint or 'a caller'}")
        self.get_logger().warning(f"goal {work.label} cancelled by {request.endpoint or 'a caller'}")
        self._publish_goal(work, None)
        return answer(response, message=f"{work.label} cancelled")

    def _publish_goal(self, work: _Work | None, progress: Any) -> None:
        """patrol/goal on a change of work or state, and every GOAL_STATE_PERIOD_S while it runs."""
        tracker = work.tracker if work is not None else None
        if tracker is None:
            state = "idle"
        elif tracker.outcome is not None:
            state = tracker.outcome.value
        else:
            state = "waiting" if progress is not None and progress.waiting else "active"
        key, now = (work.label if work is not None else "", state), self._now()
        running = state in RUNNING_STATES
        if key == self._goal_sent[0] and not (running and now - self._goal_sent[1] >= GOAL_STATE_PERIOD_S):
            return
        self._goal_sent = (key, now)
        msg = GoalState(label=key[0], state=state, detail=tracker.detail if tracker else "")
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.target_x = msg.target_y = math.nan
        if tracker is not None:
            msg.target_x, msg.target_y = (float(v) for v in tracker.waypoints[-1])
            # the whole route, so a map can draw it from the dog's own word (never a copy)
            msg.waypoints = [float(v) for point in tracker.waypoints for v in point]
        if progress is not None:
            msg.waypoint_index, msg.distance_left_m, msg.eta_s = (
                progress.waypoint_index, progress.distance_left_m, progress.eta_s)
        self.goal_pub.publish(msg)

    def close(self) -> None:
        # A zero command on the way out, as teleop does, while ROS still runs (after Ctrl-C it
        # does not: then the base's own command timeout stops the dog).
        if self.context.ok():
            self.pub.publish(Twist())


def main(args: list[str] | None = None) -> int:
    return run_node(PatrolNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
