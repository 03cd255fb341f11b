"""teleop_node: serves the handheld page (server.py) and turns it into ROS: `teleop/handheld/cmd_vel`
(geometry_msgs/TwistStamped: the stamp is when the page sent the frame, so the safety node drops
frames a stalled link delivers late),
the `handheld` e-stop endpoint (check-ins, engage, release), `mode/set`, `speed_mode/crowd`,
police light, siren and searchlight, `motion/resume` (the paused patrol) and `patrol/cancel`;
state for the page from `battery`, `estop` (holds as codes: endpoint and cause), `motion/state`
(with the inputs the restart interlock keeps waiting), the patrol node's `patrol/goal`, `odom`,
the payload's reported `police_light/state`, `searchlight/state`, `megaphone/siren_active` and
the recorder's `bodycam/status` (the page's toggles show these, never their own last tap), and
`bodycam/image/compressed`; push-to-talk audio to `megaphone/voice/handheld` (AudioChunk; its
one publisher).

Officers (docs/architecture.md, "Officers and their tasks"):
- `teleop/pair` (PairHandheld) opens a new pairing code for a named officer (its `pairing_code`:
  `robot-dog teleop pair --officer NAME` prints it on the caller's terminal). No code is open at
  start, and none is ever logged: logs are files other users may read.
- `teleop/revoke` (std_srvs/Trigger; `robot-dog teleop revoke`, the station's `revoke_handheld`)
  voids the pairing of a lost phone.
- `teleop/officer` (std_msgs/String, latched; this node is its one publisher): the paired
  officer's name, "" when none is. The bodycam burns it in; the recorder writes it into the
  recordings it starts.
- `teleop/events` (std_msgs/String, a JSON event per message; the uplink sends each to the
  station): every handheld action with its officer (`handheld`), and the officer's answers to
  a task (`officer_task`).
- `teleop/task` (AssignTask; the station's verb `task`): a task for the paired officer, shown on
  the page (robot_dog/teleop/tasks.py).
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Any

import robot_dog_interfaces.srv as srvs
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from robot_dog_interfaces.msg import (AudioChunk, EstopState, GoalState, MotionState,
                                     PoliceLightState, RecorderStatus, SearchlightState)
from sensor_msgs.msg import BatteryState, CompressedImage
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from robot_dog import verbs
from robot_dog.teleop.page_requests import service_request
from robot_dog.errors import Refused, outcome
from robot_dog import alarm_policy
from robot_dog.audio import voices
from robot_dog.mqtt import reply_seal
from robot_dog.patrol.goal import RUNNING_STATES
from robot_dog.ros import qos
from robot_dog.ros.interfaces import interface
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from robot_dog.teleop import tasks
from robot_dog.teleop.errors import HandheldRefused
from robot_dog.teleop.pairing import Pairing
from robot_dog.teleop.protocol import AUDIO_RATE_HZ
from robot_dog.ros.priority import HIGH_PRIORITY_NICE
from robot_dog.teleop.session import START_CAPS
from robot_dog.teleop.server import (ENDPOINT, ESTOP_TIMEOUT_S, HandheldServer, HandheldServerError,
                                      ServerConfig)

CALL_TIMEOUT_S = 3.0


class TeleopNode(Node):
    # The officer's E-STOP, the let-go's zero and the handheld endpoint's check-ins pass through
    # this node: on a loaded CPU it runs as soon as it wakes, like the safety node (ros/priority.py).
    CPU_NICE = HIGH_PRIORITY_NICE

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "teleop")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        cert, key = p("cert_file", "", "TLS certificate (fleet CA); empty: plain HTTP, loopback only"), \
            p("key_file", "", "its private key")
        config = ServerConfig(host=p("host", "127.0.0.1", "address of the dog's local link"),
                              port=p("port", 8443, "HTTPS port of the handheld page (0: any)"),
                              cert_file=Path(cert) if cert else None,
                              key_file=Path(key) if key else None)
        pairing = Pairing(code_ttl_s=p("code_ttl_s", 300.0, "a pairing code is valid this long, s"))
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"battery": None, "estop": None, "motion": None, "speed": None,
                                       "light": None, "siren": None, "searchlight": None,
                                       "record": None, "goal": None}
        self._caps = START_CAPS
        self._paired_officer = ""           # the paired officer (teleop/officer), "" when none is
        self._frame: tuple[int, bytes | None] = (0, None)
        group = ReentrantCallbackGroup()
        self._cmd = self.create_publisher(TwistStamped, "teleop/handheld/cmd_vel", qos.COMMAND)
        self._voice = self.create_publisher(AudioChunk, voices.HANDHELD.topic, qos.SENSOR)
        self._voice_seq = 0
        self._page_clients: dict[str, Any] = {}
        for name, service in verbs.services(verbs.HANDHELD).items():
            self._page_clients[name] = self.create_client(interface(service.srv, "srv"), name,
                                                          callback_group=group)
        self._check_in = self.create_client(srvs.EstopCheckIn, verbs.executor_name("checkin"), callback_group=group)
        sub = partial(self.create_subscription, callback_group=group)
        sub(BatteryState, "battery", self._on_battery, qos.TELEMETRY)
        sub(EstopState, "estop", self._on_estop, qos.STATE)
        sub(MotionState, "motion/state", self._on_motion, qos.STATE)
        sub(GoalState, "patrol/goal", self._on_goal, qos.STATE)
        sub(Odometry, "odom", self._on_odom, qos.TELEMETRY)
        sub(CompressedImage, "bodycam/image/compressed", self._on_image, qos.SENSOR)
        # The toggles show what the dog reports, never what the page last asked for.
        sub(PoliceLightState, "police_light/state", self._on_light, qos.STATE)
        sub(SearchlightState, "searchlight/state", self._on_searchlight, qos.STATE)
        sub(Bool, "megaphone/siren_active", self._on_siren, qos.STATE)
        sub(RecorderStatus, "bodycam/status", self._on_recorder, qos.STATE)
        self._officer_pub = self.create_publisher(String, "teleop/officer", qos.LATCHED)
        self._officer_pub.publish(String(data=""))      # no officer until a handheld pairs
        self._events_pub = self.create_publisher(String, "teleop/events", qos.EVENTS)
        self._task_board = tasks.TaskBoard()
        self.create_service(srvs.PairHandheld, "teleop/pair", self._on_pair, callback_group=group)
        self.create_service(Trigger, verbs.executor_name("revoke_handheld"), self._on_revoke,
                            callback_group=group)
        self.create_service(srvs.AssignTask, verbs.executor_name("task"), self._on_task,
                            callback_group=group)
        self.server = HandheldServer(config, self, pairing).start()
        scheme = "https" if cert else "http"
        self.get_logger().info(f"handheld page on {scheme}://{config.host}:{self.server.port}/; "
                               "a pairing code: robot-dog teleop pair --officer NAME "
                               f"--ns {self.get_namespace()}")

    # ---- the Dog interface of server.py ---------------------------------------------------------
    def drive(self, vx: float, wz: float, age_s: float = 0.0) -> None:
        """`age_s`: how long ago the page sent this frame, when the server knows (its clock)."""
        msg = TwistStamped()
        msg.twist.linear.x, msg.twist.angular.z = float(vx), float(wz)
        try:
            sent = self.get_clock().now() - Duration(nanoseconds=int(max(age_s, 0.0) * 1e9))
            msg.header.stamp = sent.to_msg()
            self._cmd.publish(msg)
        except Exception as exc:  # noqa: BLE001 (context gone at shutdown: the watchdog zeroes)
            if self.context.ok():
                self.get_logger().error(f"teleop/handheld/cmd_vel not published: {exc}")

    def voice(self, pcm: bytes) -> None:
        """One push-to-talk chunk (s16le mono 16 kHz, checked by protocol.py) to the megaphone."""
        import array
        samples = array.array("h")
        samples.frombytes(pcm)
        if sys.byteorder == "big":
            samples.byteswap()
        self._voice_seq += 1
        msg = AudioChunk(sample_rate=AUDIO_RATE_HZ, channels=1, sequence=self._voice_seq)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.samples = samples
        self._voice.publish(msg)

    def check_in(self, timeout_s: float) -> None:
        if self._check_in.service_is_ready():
            self._check_in.call_async(srvs.EstopCheckIn.Request(endpoint=ENDPOINT,
                                                                timeout_s=float(timeout_s)))

    def call(self, kind: str, args: dict[str, Any], officer: str) -> tuple[str, str]:
        """(code, words) of a page request by `officer`. A release checks in first and waits for
        that answer: after a lapse the safety node refuses a stale endpoint's release
        (`check_in_first`), so the officer's one tap is "check in, then release"."""
        try:
            name, fields = service_request(kind, args, officer)
        except Refused as exc:
            return exc.code, exc.detail
        if kind == "release":
            code, text = self._ask(self._check_in, srvs.EstopCheckIn.Request(
                endpoint=ENDPOINT, timeout_s=float(ESTOP_TIMEOUT_S)), "estop/check_in")
            if code != "ok":
                return code, text
        client = self._page_clients[name]
        code, text = self._ask(client, client.srv_type.Request(**fields), name)
        self.get_logger().info(f"handheld {kind} by officer {officer}: {code} {text}")
        return code, text

    def report(self, kind: str, code: str, officer: str) -> None:
        """A handheld action, as an event for the station: who did what, and the dog's answer."""
        data = {"officer": officer, "kind": kind, "code": code}
        self._send_event("handheld", alarm_policy.severity_of("handheld", data),
                         f"handheld {kind} by officer {officer}: {code}", data)

    def officer_changed(self, officer: str) -> None:
        with self._lock:
            if self._paired_officer == officer:
                return
            self._paired_officer = officer
        self.get_logger().info(f"handheld officer: {officer or '(none)'}")
        self._officer_pub.publish(String(data=officer))

    def task_answer(self, officer: str, incident: str, state: str) -> tuple[str, str]:
        with self._lock:
            try:
                data = self._task_board.answer(officer, incident, state)
            except Refused as exc:
                return exc.code, exc.detail
        self._send_event(tasks.EVENT_TYPE, alarm_policy.severity_of(tasks.EVENT_TYPE, data),
                         f"incident {incident}: officer {officer} {state}", data)
        return "ok", state

    def _send_event(self, type_: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """One event for the uplink to send to the station (robot_dog/uplink/events.py)."""
        doc = {"type": type_, "severity": severity, "message": message, "data": data}
        try:
            self._events_pub.publish(String(data=json.dumps(doc, ensure_ascii=False)))
        except Exception as exc:  # noqa: BLE001 (context gone at shutdown)
            if self.context.ok():
                self.get_logger().error(f"teleop/events not published: {exc}")

    def _ask(self, client: Any, request: Any, name: str) -> tuple[str, str]:
        """Call a service from the server's thread (never a ROS callback) and wait for it."""
        if not client.service_is_ready():
            return "unavailable", f"{name} is not available"
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(CALL_TIMEOUT_S):
            future.cancel()
            return "timeout", f"{name}: no answer within {CALL_TIMEOUT_S:g} s"
        return outcome(future.result())

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {**self._state, "officer": self._paired_officer, "task": self._task_board.shown(self._paired_officer)}

    def frame(self) -> tuple[int, bytes | None]:
        with self._lock:
            return self._frame

    def caps(self) -> tuple[float, float]:
        with self._lock:
            return self._caps

    # ---- ROS in -----------------------------------------------------------------------------------
    def _on_battery(self, msg: BatteryState) -> None:
        with self._lock:
            self._state["battery"] = round(float(msg.percentage), 3)

    def _on_estop(self, msg: EstopState) -> None:
        # Codes, not the English `reason`: the page words each hold in the officer's language.
        causes = list(msg.hold_causes) + [""] * (len(msg.hold_endpoints) - len(msg.hold_causes))
        with self._lock:
            self._state["estop"] = {
                "engaged": msg.engaged, "autonomy_held": msg.autonomy_held,
                "holds": [{"endpoint": e, "cause": c} for e, c in zip(msg.hold_endpoints, causes)],
                "stale": list(msg.stale_endpoints)}

    def _on_light(self, msg: PoliceLightState) -> None:
        with self._lock:
            self._state["light"] = msg.pattern != "off"

    def _on_searchlight(self, msg: SearchlightState) -> None:
        with self._lock:
            self._state["searchlight"] = msg.level_requested > 0.0 or msg.level_actual > 0.0

    def _on_siren(self, msg: Bool) -> None:
        with self._lock:
            self._state["siren"] = bool(msg.data)

    def _on_recorder(self, msg: RecorderStatus) -> None:
        # Recording (whatever started it, post-event time included) while it names a recording;
        # None while the recorder is off, so the page shows it unknown.
        with self._lock:
            self._state["record"] = None if msg.state == "disabled" else bool(msg.recording_id)

    def _on_motion(self, msg: MotionState) -> None:
        with self._lock:
            self._caps = (float(msg.max_linear), float(msg.max_angular))
            self._state["motion"] = {"winner": msg.winner, "speed_mode": msg.speed_mode,
                                     "mode": msg.mode, "max_linear": round(msg.max_linear, 3),
                                     "waiting": list(msg.waiting)}

    def _on_goal(self, msg: GoalState) -> None:
        # `running`: work the page's End goal can cancel (a refused goal leaves the running
        # work on; its state follows on the next tick)
        with self._lock:
            self._state["goal"] = {"label": msg.label, "state": msg.state,
                                   "running": msg.state in RUNNING_STATES}

    def _on_odom(self, msg: Odometry) -> None:
        with self._lock:
            self._state["speed"] = round(float(msg.twist.twist.linear.x), 3)

    def _on_image(self, msg: CompressedImage) -> None:
        with self._lock:
            self._frame = (self._frame[0] + 1, bytes(msg.data))

    def _on_pair(self, request: Any, response: Any) -> Any:
        try:
            code = self.server.new_code(request.officer)
            officer = self.server.pairing.officer_of_code
            if request.seal_key:   # the station's request: only it can open the code
                response.sealed_code = reply_seal.seal(request.seal_key, code, officer)
            else:
                response.pairing_code = code
        except (HandheldRefused, reply_seal.SealedReplyError) as exc:
            response.accepted, response.code, response.message = False, exc.code, exc.detail
            return response
        asked = f" by {request.sender}" if request.sender else " on the dog"
        self.get_logger().warning(f"handheld pairing: a new code was opened for officer {officer}"
                                  f"{asked} (given to the caller only)")
        response.accepted, response.code = True, "ok"
        response.message = f"pairing code for officer {officer}"
        return response

    def _on_revoke(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = True, self.server.revoke("revoked on request")
        return response

    def _on_task(self, request: Any, response: Any) -> Any:
        with self._lock:
            officer = self._paired_officer
            try:
                task = self._task_board.assign(officer, incident=request.incident, what=request.what,
                                          frame=request.frame, x=request.x, y=request.y,
                                          sender=request.sender, dog=request.dog)
            except Refused as exc:
                response.accepted, response.code, response.message = False, exc.code, exc.detail
                self.get_logger().warning(f"task for incident {request.incident} refused: {exc.code}")
                return response
        self.get_logger().info(f"task for incident {task.incident} from {task.sender} given to "
                               f"officer {officer}")
        response.accepted, response.code = True, "ok"
        response.message = f"task for incident {task.incident} given to officer {officer}"
        return response

    def close(self) -> None:
        self.server.close()   # commands zero on the way out


def main() -> int:
    # The handheld server logs through Python logging: time and level on every line.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_node(TeleopNode)
    except HandheldServerError as exc:   # a taken port, an address not here: one line, exit 1
        print(f"teleop_node: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
