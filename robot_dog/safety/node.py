"""safety_node: the one way to `cmd_vel` and the dog's e-stop (docs/safety.md, docs/architecture.md).

Subscribes one `cmd_vel` input per source and the locks, all from one twist_mux-format YAML
(parameter `mux_config`, default robot_dog/config/twist_mux.yaml: `teleop/handheld/cmd_vel`,
`teleop/gamepad/cmd_vel`, `teleop/keyboard/cmd_vel`, `station/cmd_vel`, `patrol/cmd_vel`; the lock
`motion/pause`, std_msgs/Bool). Inputs named in `stamped_inputs` are geometry_msgs/TwistStamped
(the sender's stamp bounds their age); the others geometry_msgs/Twist. Publishes the arbitrated
`cmd_vel`, the latched `estop` (robot_dog_interfaces/EstopState, which payload_node obeys) and
`motion/state`; follows the base's posture from `base/state`. Serves `estop/engage`,
`estop/release`, `estop/check_in`, `motion/resume` (the restart interlock's deliberate action
for autonomous inputs), `mode/set` (stand/sit/damp, checked here, then forwarded to the base's
`base/set_mode`) and `speed_mode/crowd` (std_srvs/SetBool). With `state_file` set, holds are
kept there and every start begins held (boot hold) until an authorised release.

Behaviour lives in motion.py, interlock.py and estop.py; this file wires them to ROS. Every
callback is short and never waits: `mode/set` is an async callback awaiting the base's answer,
the settle-time `sit` is a call whose answer arrives as a callback. Times come from the node's
clock (`use_sim_time` works); `wall` (time.time) only orders releases against signed times.
"""
from __future__ import annotations

import resource
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from geometry_msgs.msg import Twist as TwistMsg
from geometry_msgs.msg import TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from robot_dog import verbs
from robot_dog_interfaces.msg import BaseState, EstopState, MotionState
from robot_dog_interfaces.srv import (EstopCheckIn, EstopEngage, EstopRelease, MotionResume,
                                      SetBaseMode)
from std_msgs.msg import Bool, Header
from std_srvs.srv import SetBool

from robot_dog.errors import answer, outcome
from robot_dog.log_rate import worth_a_line
from robot_dog.ros import qos
from robot_dog.ros.paced_timer import PacedTimer
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.priority import HIGH_PRIORITY_NICE
from robot_dog.ros.ros_main import run_node
from robot_dog.safety import state_file
from robot_dog.safety.errors import Refused
from robot_dog.safety.estop import (BOOT_RELEASERS, DEFAULT_ENDPOINTS, SECURITY_CODES,
                                    SUPERVISOR, EstopCore, EstopStatus)
from robot_dog.safety.limits import Limits
from robot_dog.safety.motion import MotionConfig, MotionCore
from robot_dog.safety.mux import DEFAULT_MUX_CONFIG, ESTOP_LOCK, LockSpec, load_mux_config
from robot_dog.safety.pace import TickPace
from robot_dog.safety.stall import CpuMark, StallGuard, where_it_went
from robot_dog.safety.twist import Twist

BASE_CALL_TIMEOUT_S = 3.0
#: A zero that holds (e-stop, boot hold) is published again this often, s.
HOLD_REPEAT_S = 0.5
#: `motion/state` is published on every change and again this often, s.
STATE_REPEAT_S = 0.5
#: Who may resume an autonomous input: a human at the station, the officer, the admin on the dog.
RESUMERS = BOOT_RELEASERS


def _cpu_mark() -> CpuMark:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    try:  # run time, time runnable but not running (ns), timeslices: the calling thread's
        queued_s = int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        queued_s = 0.0  # a kernel without schedstat: the line says 0
    return CpuMark(time.thread_time(), time.process_time(), usage.ru_nvcsw, usage.ru_nivcsw,
                   queued_s)


class SafetyNode(Node):
    OWN_EXECUTOR = ("the watchdog tick and the endpoints' deadlines: composed, never behind "
                    "another node's callback")
    CPU_NICE = HIGH_PRIORITY_NICE  # and run as soon as they wake on a loaded CPU (ros/priority.py)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "safety")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        d, m = Limits(), MotionConfig()   # the defaults live in the cores, stated once
        limits = Limits(
            max_linear=p("max_linear", d.max_linear, "absolute speed limit, m/s (above: refused)"),
            max_angular=p("max_angular", d.max_angular, "absolute turn rate limit, rad/s"),
            crowd_linear=p("crowd_linear", d.crowd_linear, "speed cap in crowd mode, m/s"),
            crowd_angular=p("crowd_angular", d.crowd_angular, "turn rate cap in crowd mode, rad/s"),
            accel_linear=p("accel_linear", d.accel_linear, "acceleration limit, m/s^2"),
            accel_angular=p("accel_angular", d.accel_angular, "angular acceleration limit, rad/s^2"),
            stop_decel_linear=p("stop_decel_linear", d.stop_decel_linear,
                                "controlled-stop deceleration, m/s^2"),
            stop_decel_angular=p("stop_decel_angular", d.stop_decel_angular, "controlled-stop, rad/s^2"))
        inputs, locks = load_mux_config(Path(p(
            "mux_config", str(DEFAULT_MUX_CONFIG), "inputs and locks, twist_mux YAML format")))
        supervised = [s.priority for s in inputs if s.name == SUPERVISOR or s.restart == "resume"]
        # The station's lapse holds autonomy: everything at or below the station's input.
        self._autonomy_lock = LockSpec("autonomy", max(supervised, default=0))
        tick_s = 1.0 / p("rate_hz", 1.0 / m.tick_s, "output rate of cmd_vel while driving, Hz")
        config = MotionConfig(
            limits=limits, tick_s=tick_s, inputs=inputs,
            locks=(*locks, *(() if any(lk.name == ESTOP_LOCK.name for lk in locks) else (ESTOP_LOCK,)),
                   self._autonomy_lock),
            watchdog_s=p("watchdog_s", m.watchdog_s, "winner silence before zero, s"),
            max_frame_age_s=p("max_frame_age_s", m.max_frame_age_s, "stamped frames older than this are dropped, s"),
            settle_s=p("settle_s", m.settle_s, "e-stop held at zero this long -> the base sits, s"))
        self._motion = MotionCore(config, speed_mode="crowd" if p(
            "crowd_mode", False, "start in crowd mode (speed cap crowd_linear)") else "normal")
        self._estop = EstopCore(known=tuple(p(
            "endpoints", list(DEFAULT_ENDPOINTS), "e-stop endpoint names accepted (others refused)")))
        stamped = set(p("stamped_inputs", ["handheld"], "inputs published as TwistStamped"))
        path = p("state_file", "", "where holds are kept across restarts; empty: not kept, no boot hold")
        self._state_path = Path(path) if path else None
        # Holds go to the file on a thread of their own: an fsync never stalls this executor.
        self._writer = (state_file.StateWriter(self._state_path, self._log_save_error)
                        if self._state_path is not None else None)
        self._lock = threading.Lock()          # the cores are single-threaded
        self._published: EstopStatus | None = None
        self._saved: dict | None = None
        self._last_state: tuple = ()
        self._tick_s = tick_s
        self._pace = TickPace(tick_s=tick_s, rest_s=min(HOLD_REPEAT_S, STATE_REPEAT_S))
        self._stall = StallGuard(late_s=max(0.1, 5 * tick_s))
        self._state_at = float("-inf")     # when motion/state was last published
        self._cpu = _cpu_mark()
        self._sent: tuple[float, Twist | None] = (float("-inf"), None)  # (when, what) on cmd_vel

        core = MutuallyExclusiveCallbackGroup()
        self._cmd_pub = self.create_publisher(TwistMsg, "cmd_vel", qos.COMMAND)
        self._estop_pub = self.create_publisher(EstopState, "estop", qos.STATE)
        self._state_pub = self.create_publisher(MotionState, "motion/state", qos.STATE)
        for spec in inputs:
            msg_type = TwistStamped if spec.name in stamped else TwistMsg
            self.create_subscription(msg_type, spec.topic, partial(self._on_twist, spec.name),
                                     qos.COMMAND, callback_group=core)
        for lock in locks:
            if lock.name != ESTOP_LOCK.name:
                self.create_subscription(Bool, lock.topic, partial(self._on_lock, lock.name),
                                         qos.STATE, callback_group=core)
        self.create_subscription(BaseState, "base/state", self._on_base_state, qos.STATE,
                                 callback_group=core)
        self.create_service(EstopEngage, verbs.executor_name("estop"), self._on_engage, callback_group=core)
        self.create_service(EstopRelease, verbs.executor_name("estop_release"), self._on_release, callback_group=core)
        self.create_service(EstopCheckIn, verbs.executor_name("checkin"), self._on_check_in, callback_group=core)
        self.create_service(MotionResume, verbs.executor_name("resume"), self._on_resume, callback_group=core)
        self.create_service(SetBool, verbs.executor_name("speed_mode"), self._on_crowd, callback_group=core)
        # mode/set awaits the base's answer (an async callback: it never blocks the executor).
        # A suspended coroutine keeps its callback group entered, so the service, and the
        # client with its deadline timer, each have a group of their own, apart from `core`.
        self._base_group = ReentrantCallbackGroup()
        self._base = self.create_client(SetBaseMode, "base/set_mode", callback_group=self._base_group)
        self.create_service(SetBaseMode, verbs.executor_name("mode"), self._on_mode,
                            callback_group=ReentrantCallbackGroup())
        # One timer, paced (pace.py): every tick_s while anything can move, else at the next
        # deadline and at least every HOLD_REPEAT_S.
        self._timer = PacedTimer(self, tick_s, self._tick, callback_group=core)
        if self._state_path is not None:
            self._boot(self._state_path)
        with self._lock:
            self._apply_estop()
        self.get_logger().info(f"safety chain up: {limits}, {self._motion.speed_mode} mode, "
                               f"inputs {', '.join(f'{s.name}={s.topic}' for s in inputs)}")

    def _now(self) -> float:
        """The node's clock in s (sim time under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _boot(self, path: Path) -> None:
        doc = state_file.read(path)
        if doc is None:
            doc = {"version": 1, "holds": []}   # first start: held all the same
        for note in self._estop.restore(doc, time.time()):
            self.get_logger().warning(f"e-stop: {note}")
        self.get_logger().warning("e-stop: boot hold until an authorised release "
                                  f"({', '.join(BOOT_RELEASERS)})")

    # ---- inputs ----------------------------------------------------------------------------
    def _on_twist(self, source: str, msg: TwistMsg | TwistStamped) -> None:
        sent_at = None
        if isinstance(msg, TwistStamped):
            stamp = msg.header.stamp
            sent_at = stamp.sec + stamp.nanosec * 1e-9 if (stamp.sec or stamp.nanosec) else None
            msg = msg.twist
        lin, ang = msg.linear, msg.angular
        out = None
        with self._lock:
            now = self._now()
            try:
                self._motion.command(source, (lin.x, lin.y, lin.z), (ang.x, ang.y, ang.z), now,
                                     sent_at)
                out = self._motion.step(now)  # pass a command on at once, not at the next tick
            except Refused:
                pass  # logged by the core with its reason (below)
            self._flush_log()
            self._pace_tick(now)  # an input is live: the fast tick again (its watchdog)
        if out is not None:
            self._publish_cmd(out, now)

    def _on_lock(self, name: str, msg: Bool) -> None:
        with self._lock:
            now = self._now()
            self._motion.set_lock(name, bool(msg.data), now)
            self._flush_log()
            self._pace_tick(now)  # its lapse is a new deadline

    def _on_base_state(self, msg: BaseState) -> None:
        """The base's posture is the truth (it may change by itself, e.g. damp on a fault)."""
        with self._lock:
            if msg.mode in ("stand", "sit", "damp") and msg.mode != self._motion.mode:
                self.get_logger().info(f"base reports mode {msg.mode} (was {self._motion.mode})")
                self._motion.mode = msg.mode

    def _on_engage(self, request: EstopEngage.Request,
                   response: EstopEngage.Response) -> EstopEngage.Response:
        with self._lock:
            before = self._estop.status().key
            hold = self._estop.engage(request.endpoint, request.reason, self._now(), time.time())
            if self._estop.status().key != before:   # a held button repeats its engage: log once
                self.get_logger().warning(f"e-stop engaged by {hold.endpoint}: {hold.reason}")
            self._apply_estop()
        response.accepted, response.hold_id = True, hold.id
        response.code = "ok" if hold.endpoint == request.endpoint else "unknown_endpoint"
        response.message = f"engaged by {hold.endpoint}: {hold.reason}"
        return response

    def _on_release(self, request: EstopRelease.Request,
                    response: EstopRelease.Response) -> EstopRelease.Response:
        with self._lock:
            try:
                text = self._estop.release(request.endpoint, self._now(), time.time(),
                                           request.hold_id, float(request.issued_at))
                answer(response, message=text)
                self.get_logger().warning(f"e-stop: {text}")
            except Refused as exc:
                answer(response, exc)
                if exc.code in SECURITY_CODES:
                    self.get_logger().error(f"security event: e-stop release by "
                                            f"{request.endpoint!r} refused ({exc.code}): {exc.detail}")
                else:
                    self.get_logger().warning(f"e-stop release refused ({exc.code}): {exc.detail}")
            self._apply_estop()
        return response

    def _on_check_in(self, request: EstopCheckIn.Request,
                     response: EstopCheckIn.Response) -> EstopCheckIn.Response:
        with self._lock:
            before = set(self._estop.status().endpoints)
            try:
                text = self._estop.check_in(request.endpoint, request.timeout_s, self._now())
                answer(response, message=text)
                if request.endpoint not in before or request.timeout_s == 0:
                    self.get_logger().info(f"e-stop endpoint {text}")
            except Refused as exc:
                answer(response, exc)
                self.get_logger().warning(f"e-stop check-in refused ({exc.code}): {exc.detail}")
            self._apply_estop()
        return response

    def _on_resume(self, request: MotionResume.Request,
                   response: MotionResume.Response) -> MotionResume.Response:
        with self._lock:
            try:
                if request.endpoint not in RESUMERS:
                    raise Refused(f"{request.endpoint!r} may not resume; only "
                                  f"{', '.join(RESUMERS)}", "unknown_endpoint")
                text = self._motion.resume(request.input)
                answer(response, message=text)
                self.get_logger().warning(f"{request.endpoint}: {text}")
            except Refused as exc:
                answer(response, exc)
                self.get_logger().warning(f"resume of {request.input!r} by {request.endpoint!r} "
                                          f"refused ({exc.code}): {exc.detail}")
            self._flush_log()
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
                return answer(response, exc)
            self._flush_log()
        refusal = await self._base_mode(mode)
        if refusal is not None:
            with self._lock:
                self._motion.mode = previous  # the base did not change posture
            self.get_logger().warning(f"mode {mode} not applied by the base ({refusal.code}): "
                                      f"{refusal.detail}")
            return answer(response, refusal)
        return answer(response, message=f"base in {mode}")

    async def _base_mode(self, mode: str) -> Refused | None:
        """The base's answer to `mode`: None when it took it, else why not (the base's own code,
        or unavailable / timeout / failed for a base that is not there, silent or broken)."""
        if not self._base.service_is_ready():
            return Refused("base/set_mode is not served", "unavailable")
        future = self._base.call_async(SetBaseMode.Request(mode=mode))
        # The deadline cancels the call; awaiting a cancelled future yields None.
        timer = self.create_timer(BASE_CALL_TIMEOUT_S, future.cancel, callback_group=self._base_group)
        try:
            reply = await future
        except Exception as exc:  # noqa: BLE001 (the base's failure is the answer)
            return Refused(f"base/set_mode failed: {exc}", "failed")
        finally:
            self.destroy_timer(timer)
        if reply is None:
            return Refused(f"base/set_mode did not answer within {BASE_CALL_TIMEOUT_S:g} s", "timeout")
        code, words = outcome(reply)
        return None if code == "ok" else Refused(words, code)

    def _settle(self, mode: str) -> None:
        """Stop category 1: the base sits once stopped; its answer comes back as a callback."""
        if not self._base.service_is_ready():
            self.get_logger().error(f"e-stop settle: base/set_mode not served, the base stays {self._motion.mode}")
            return
        future = self._base.call_async(SetBaseMode.Request(mode=mode))

        def done(f: Any) -> None:
            answer = f.result() if not f.cancelled() and f.exception() is None else None
            ok = answer is not None and answer.accepted
            with self._lock:
                if ok:
                    self._motion.mode = mode
            self.get_logger().warning(f"e-stop settle: base {'in ' + mode if ok else 'did not ' + mode}")
        future.add_done_callback(done)

    # ---- output ----------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            now = self._now()
            stall = self._stall.tick(now, since=self._timer.due - self._tick_s)
            cpu, self._cpu = self._cpu, _cpu_mark()
            if stall:
                # This node did not run for `stall` s: what came meanwhile is queued behind
                # this tick (timers are served first). Judge deadlines after it, next tick.
                # A new worst stall always gets its line (with where its time went).
                if worth_a_line(self._stall.stalls) or stall >= self._stall.worst_s:
                    self.get_logger().warning(
                        f"safety tick {stall:.3f} s after the previous one (this node stalled; "
                        f"{self._stall.stalls} so far, worst {self._stall.worst_s:.3f} s; "
                        f"{where_it_went(cpu, self._cpu, stall)}): "
                        "deadlines judged on the next tick, after the queued messages")
                self._pace_tick(now, after_tick=True, fast=True)  # that next tick: one period on
                return
            for event in self._estop.tick(now, time.time()):
                self.get_logger().error(f"e-stop: {event}: controlled stop")
            self._apply_estop()
            out = self._motion.step(now)
            settle = self._motion.settle_due(now)
            self._flush_log()
        # Inputs publish on arrival; the tick fills in (watchdog zero, ramps, e-stop hold) at
        # least every tick, and never twice the same command within half a tick. A held zero
        # (e-stop, boot hold) is repeated every HOLD_REPEAT_S, not 50 times a second: the base
        # keeps its last command, the first zero went out at once, and a dog held for hours
        # would otherwise spend its CPU saying zero.
        repeat_s = HOLD_REPEAT_S if out is not None and out.is_zero else self._tick_s / 2
        if out is not None and (out != self._sent[1] or now - self._sent[0] >= repeat_s):
            self._publish_cmd(out, now)
        if settle is not None:
            self._settle(settle)
        self._publish_state(force=now - self._state_at >= STATE_REPEAT_S)
        with self._lock:
            self._pace_tick(now, after_tick=True)

    def _pace_tick(self, now: float, after_tick: bool = False, fast: bool = False) -> None:
        """Caller holds the lock: the tick timer armed for the tick pace.py asks for (never
        later; ros/paced_timer.py)."""
        held = self._published is not None and self._published.engaged
        due = self._pace.next_tick(now, fast or not self._motion.at_rest(now), (
            self._estop.next_deadline(), self._motion.next_deadline(now),
            self._sent[0] + HOLD_REPEAT_S if held else None, self._state_at + STATE_REPEAT_S))
        self._timer.arm(due - now, after_tick)

    def _publish_cmd(self, out: Twist, now: float) -> None:
        self._sent = (now, out)
        self._cmd_pub.publish(_to_msg(out))

    def _apply_estop(self) -> None:
        """Caller holds the lock: push the e-stop status into the motion core, `estop` and the
        state file."""
        status = self._estop.status()
        now = self._now()
        self._motion.set_lock(self._autonomy_lock.name, status.autonomy_held, now)
        self._motion.set_estop(status.engaged, status.category, now,
                               tuple((h.endpoint, h.id) for h in status.holds))
        if status.engaged and status.category == 0:
            out = self._motion.step(now)  # immediate: zero now, not at the tick
            if out is not None:
                self._publish_cmd(out, now)
        if status != self._published:
            self._save()
            self._publish_estop(status)
        self._pace_tick(now)   # a release, an endpoint's new deadline, the settle time

    def _save(self) -> None:
        """Holds to the state file when they changed (a few hundred bytes, rarely), written by
        the writer's thread: the hold already acts, the file is for the next start."""
        if self._writer is None:
            return
        doc = self._estop.snapshot()
        if doc != self._saved:
            self._writer.save(doc)
            self._saved = doc

    def _log_save_error(self, text: str) -> None:
        self._saved = None   # the next change writes again
        self.get_logger().error(f"e-stop holds: {text}")

    def close(self) -> None:
        """On exit: the holds on disk before the process ends."""
        if self._writer is not None:
            self._writer.close()

    def _publish_estop(self, status: EstopStatus) -> None:
        self._published = status
        self._estop_pub.publish(EstopState(
            header=Header(stamp=self.get_clock().now().to_msg()), engaged=status.engaged,
            reason=status.reason, endpoints=list(status.endpoints),
            stale_endpoints=list(status.stale), autonomy_held=status.autonomy_held,
            hold_endpoints=[h.endpoint for h in status.holds],
            hold_ids=[h.id for h in status.holds],
            hold_causes=[h.cause for h in status.holds]))

    def _publish_state(self, force: bool = False) -> None:
        m = self._motion
        cap = m.config.limits.caps(m.speed_mode)
        winner = m.winner or ""
        waiting = m.waiting()
        state = (winner, m.speed_mode, m.mode, m.output, waiting)
        if not force and state == self._last_state:
            return
        self._last_state = state
        self._state_at = self._now()
        self._state_pub.publish(MotionState(
            header=Header(stamp=self.get_clock().now().to_msg()), winner=winner,
            speed_mode=m.speed_mode, mode=m.mode, max_linear=cap[0], max_angular=cap[1],
            output=_to_msg(m.output), waiting=list(waiting)))

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
