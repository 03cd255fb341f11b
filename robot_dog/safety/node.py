"""safety_node: the one way to `cmd_vel` and the dog's e-stop (docs/architecture.md, Motion safety).

Subscribes `teleop/cmd_vel` (priority 100), `station/cmd_vel` (50), `patrol/cmd_vel` (10) and the
lock `motion/pause` (std_msgs/Bool, blocks every input while true); publishes the arbitrated
`cmd_vel`, the latched `estop` (robot_dog_interfaces/EstopState, which payload_node obeys) and
`motion/state`; follows the base's posture from `base/state`. Serves `estop/engage`, `estop/release`, `estop/check_in`, `mode/set`
(stand/sit/damp, checked here, then forwarded to the base's `base/set_mode`) and `speed_mode/crowd`
(std_srvs/SetBool). Behaviour lives in motion.py and estop.py; this file wires them to ROS.
"""
from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

from geometry_msgs.msg import Twist as TwistMsg
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from robot_dog_interfaces.msg import BaseState, EstopState, MotionState
from robot_dog_interfaces.srv import EstopCheckIn, EstopEngage, EstopRelease, SetBaseMode
from std_msgs.msg import Bool, Header
from std_srvs.srv import SetBool

from robot_dog.ros import qos
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import EstopCore, EstopStatus
from robot_dog.safety.limits import Limits
from robot_dog.safety.motion import MotionConfig, MotionCore
from robot_dog.safety.mux import DEFAULT_INPUTS, ESTOP_LOCK, InputSpec, LockSpec
from robot_dog.safety.twist import Twist

PAUSE_LOCK = LockSpec("pause", 100)
BASE_CALL_TIMEOUT_S = 3.0


class SafetyNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "safety")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        limits = Limits(
            max_linear=p("max_linear", 1.0, "absolute speed limit, m/s (above: refused)"),
            max_angular=p("max_angular", 1.0, "absolute turn rate limit, rad/s"),
            crowd_linear=p("crowd_linear", 0.5, "speed cap in crowd mode, m/s"),
            crowd_angular=p("crowd_angular", 1.0, "turn rate cap in crowd mode, rad/s"),
            accel_linear=p("accel_linear", 1.0, "acceleration limit, m/s^2"),
            accel_angular=p("accel_angular", 2.0, "angular acceleration limit, rad/s^2"),
            stop_decel_linear=p("stop_decel_linear", 2.0, "controlled-stop deceleration, m/s^2"),
            stop_decel_angular=p("stop_decel_angular", 4.0, "controlled-stop, rad/s^2"))
        timeout = p("input_timeout_s", 0.5, "an input is live this long after its last command, s")
        tick_s = 1.0 / p("rate_hz", 50.0, "output rate of cmd_vel while driving, Hz")
        config = MotionConfig(limits=limits, tick_s=tick_s,
                              inputs=tuple(InputSpec(s.name, s.priority, timeout) for s in DEFAULT_INPUTS),
                              locks=(ESTOP_LOCK, PAUSE_LOCK),
                              watchdog_s=p("watchdog_s", 0.4, "winner silence before zero, s"))
        self._motion = MotionCore(config, speed_mode="crowd" if p(
            "crowd_mode", False, "start in crowd mode (speed cap crowd_linear)") else "normal")
        self._estop = EstopCore()
        self._lock = threading.Lock()          # the cores are single-threaded
        self._published: EstopStatus | None = None
        self._last_state: tuple = ()
        self._tick_s = tick_s
        self._sent: tuple[float, Twist | None] = (float("-inf"), None)  # (when, what) on cmd_vel

        core = MutuallyExclusiveCallbackGroup()
        self._cmd_pub = self.create_publisher(TwistMsg, "cmd_vel", qos.COMMAND)
        self._estop_pub = self.create_publisher(EstopState, "estop", qos.STATE)
        self._state_pub = self.create_publisher(MotionState, "motion/state", qos.STATE)
        for spec in DEFAULT_INPUTS:
            self.create_subscription(TwistMsg, f"{spec.name}/cmd_vel",
                                     partial(self._on_twist, spec.name), qos.COMMAND,
                                     callback_group=core)
        self.create_subscription(Bool, "motion/pause", self._on_pause, qos.STATE,
                                 callback_group=core)
        self.create_subscription(BaseState, "base/state", self._on_base_state, qos.STATE,
                                 callback_group=core)
        self.create_service(EstopEngage, "estop/engage", self._on_engage, callback_group=core)
        self.create_service(EstopRelease, "estop/release", self._on_release, callback_group=core)
        self.create_service(EstopCheckIn, "estop/check_in", self._on_check_in, callback_group=core)
        self.create_service(SetBool, "speed_mode/crowd", self._on_crowd, callback_group=core)
        # mode/set awaits the base's answer (an async callback): the tick runs meanwhile.
        self._base = self.create_client(SetBaseMode, "base/set_mode",
                                        callback_group=ReentrantCallbackGroup())
        self.create_service(SetBaseMode, "mode/set", self._on_mode,
                            callback_group=ReentrantCallbackGroup())
        self.create_timer(tick_s, self._tick, callback_group=core)
        self.create_timer(0.5, lambda: self._publish_state(force=True), callback_group=core)
        self._publish_estop(self._estop.status())
        self.get_logger().info(f"safety chain up: {limits}, {self._motion.speed_mode} mode")

    # ---- inputs ----------------------------------------------------------------------------
    def _on_twist(self, source: str, msg: TwistMsg) -> None:
        lin, ang = msg.linear, msg.angular
        out = None
        with self._lock:
            now = time.monotonic()
            try:
                self._motion.command(source, (lin.x, lin.y, lin.z), (ang.x, ang.y, ang.z), now)
                out = self._motion.step(now)  # pass a command on at once, not at the next tick
            except Refused:
                pass  # logged by the core with its reason (below)
            self._flush_log()
        if out is not None:
            self._publish_cmd(out, now)

    def _on_pause(self, msg: Bool) -> None:
        with self._lock:
            self._motion.set_lock(PAUSE_LOCK.name, bool(msg.data), time.monotonic())

    def _on_base_state(self, msg: BaseState) -> None:
        """The base's posture is the truth (it may change by itself, e.g. damp on a fault)."""
        with self._lock:
            if msg.mode in ("stand", "sit", "damp") and msg.mode != self._motion.mode:
                self.get_logger().info(f"base reports mode {msg.mode} (was {self._motion.mode})")
                self._motion.mode = msg.mode

    def _on_engage(self, request: EstopEngage.Request,
                   response: EstopEngage.Response) -> EstopEngage.Response:
        with self._lock:
            before = self._estop.status()
            text = self._estop.engage(request.endpoint, request.reason, time.monotonic())
            if self._estop.status() != before:   # a held button repeats its engage: log once
                self.get_logger().warning(f"e-stop {text}")
            self._apply_estop()
        response.accepted, response.message = True, text
        return response

    def _on_release(self, request: EstopRelease.Request,
                    response: EstopRelease.Response) -> EstopRelease.Response:
        with self._lock:
            try:
                text = self._estop.release(request.endpoint, time.monotonic())
                response.accepted = True
                self.get_logger().warning(f"e-stop: {text}")
            except Refused as exc:
                text, response.accepted = exc.reason, False
                self.get_logger().warning(f"e-stop release refused: {text}")
            self._apply_estop()
        response.message = text
        return response

    def _on_check_in(self, request: EstopCheckIn.Request,
                     response: EstopCheckIn.Response) -> EstopCheckIn.Response:
        with self._lock:
            before = set(self._estop.status().endpoints)
            try:
                text = self._estop.check_in(request.endpoint, request.timeout_s, time.monotonic())
                response.accepted = True
                if request.endpoint not in before or request.timeout_s == 0:
                    self.get_logger().info(f"e-stop endpoint {text}")
            except Refused as exc:
                text, response.accepted = exc.reason, False
                self.get_logger().warning(f"e-stop check-in refused: {text}")
            self._apply_estop()
        response.message = text
        return response

    def _on_crowd(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            self._motion.set_speed_mode("crowd" if request.data else "normal")
            self._flush_log()
            response.success, response.message = True, f"speed mode {self._motion.speed_mode}"
        return response

    async def _on_mode(self, request: SetBaseMode.Request,
                       response: SetBaseMode.Response) -> SetBaseMode.Response:
        """Checked here, then forwarded to the base; awaited, so the executor keeps ticking."""
        with self._lock:
            try:
                previous = self._motion.mode
                mode = self._motion.request_mode(request.mode)
            except Refused as exc:
                self.get_logger().warning(f"mode {request.mode!r} refused: {exc.reason}")
                response.accepted, response.reason = False, exc.reason
                return response
            self._flush_log()
        answer = None
        if self._base.service_is_ready():
            future = self._base.call_async(SetBaseMode.Request(mode=mode))
            deadline = self.create_timer(BASE_CALL_TIMEOUT_S, lambda: future.cancel())
            try:
                answer = await future
            except Exception:  # noqa: BLE001  (cancelled by the deadline: no answer)
                answer = None
            finally:
                self.destroy_timer(deadline)
        if answer is None or not answer.accepted:
            reason = answer.reason if answer is not None else "base/set_mode did not answer"
            with self._lock:
                self._motion.mode = previous  # the base did not change posture
            self.get_logger().warning(f"mode {mode} not applied by the base: {reason}")
            response.accepted, response.reason = False, reason
            return response
        response.accepted, response.reason = True, f"base in {mode}"
        return response

    # ---- output ----------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            now = time.monotonic()
            for event in self._estop.tick(now):
                self.get_logger().error(f"e-stop: {event}: controlled stop")
            self._apply_estop()
            out = self._motion.step(now)
            self._flush_log()
        # Inputs publish on arrival; the tick fills in (watchdog zero, ramps, e-stop hold) at
        # least every tick, and never twice the same command within half a tick.
        if out is not None and (out != self._sent[1] or now - self._sent[0] >= self._tick_s / 2):
            self._publish_cmd(out, now)
        self._publish_state()

    def _publish_cmd(self, out: Twist, now: float) -> None:
        self._sent = (now, out)
        self._cmd_pub.publish(_to_msg(out))

    def _apply_estop(self) -> None:
        """Caller holds the lock: push the e-stop status into the motion core and `estop`."""
        status = self._estop.status()
        self._motion.set_estop(status.engaged, status.category, time.monotonic())
        if status.engaged and status.category == 0:
            out = self._motion.step(time.monotonic())  # immediate: zero now, not at the tick
            if out is not None:
                self._publish_cmd(out, time.monotonic())
        if status != self._published:
            self._publish_estop(status)

    def _publish_estop(self, status: EstopStatus) -> None:
        self._published = status
        self._estop_pub.publish(EstopState(
            header=Header(stamp=self.get_clock().now().to_msg()), engaged=status.engaged,
            reason=status.reason, endpoints=list(status.endpoints),
            stale_endpoints=list(status.stale)))

    def _publish_state(self, force: bool = False) -> None:
        m = self._motion
        cap = m.config.limits.caps(m.speed_mode)
        winner = m.winner or ""
        state = (winner, m.speed_mode, m.mode, m.output)
        if not force and state == self._last_state:
            return
        self._last_state = state
        self._state_pub.publish(MotionState(
            header=Header(stamp=self.get_clock().now().to_msg()), winner=winner,
            speed_mode=m.speed_mode, mode=m.mode, max_linear=cap[0], max_angular=cap[1],
            output=_to_msg(m.output)))

    def _flush_log(self) -> None:
        for line in self._motion.take_log():
            if line.startswith("refused"):
                self.get_logger().warning(line)
            else:
                self.get_logger().info(line)


def _to_msg(twist: Twist) -> TwistMsg:
    msg = TwistMsg()
    msg.linear.x, msg.linear.y, msg.angular.z = twist.vx, twist.vy, twist.wz
    return msg


def main() -> int:
    return run_node(SafetyNode)


if __name__ == "__main__":
    raise SystemExit(main())
