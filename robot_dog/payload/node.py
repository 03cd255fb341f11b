"""payload_node: the one owner of the payload MCU's serial port (docs/serial_protocol.md s. 11).

Serves `police_light/set`, `searchlight/set`, `amplifier/set`; publishes `police_light/state`,
`searchlight/state`, `amplifier/state` (5 Hz), `battery` and `/diagnostics` (1 Hz, ROS convention: absolute topic,
names "<node>: <part>", a hardware_id; STALE when MCU telemetry stops or arrives late);
subscribes to `estop` (engaged -> SAFE on the MCU, requests that add output refused); speaks
for the e-stop endpoints `mcu` and `button` (hardware_estop.py) through `estop/check_in` and
`estop/engage`. The payload counts as safe, and a request as accepted, only on the MCU's word:
ACK(OK) for a request, the COMMANDED safe reason in telemetry for an e-stop (SAFE is resent until
telemetry agrees). Behaviour is in the cores; this file wires parameters, QoS, timers and topics.

Executor: nothing here blocks a callback. The services are `async def` and await the MCU's ACK
(the link's thread completes an rclpy future through `executor.create_task`, which also wakes
the executor). What the link pushes (a button press as an EVENT frame, a lost port, an MCU
reboot) is queued by the link's thread and handled at once by a guard condition's callback, not
on the next timer tick; so is a press first seen in telemetry (its EVENT lost). The hardware
e-stop's tick is paced (ros/paced_timer.py, `HardwareEstop.next_tick`): every 0.25 s with each
check-in, and at the instant the link's silence reaches its limit, instead of polling at 20 Hz.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future as ThreadFuture
from functools import partial
from typing import Any

from dataclasses import dataclass

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from robot_dog import verbs
from robot_dog.errors import Refused, answer
from robot_dog_interfaces.msg import AmplifierState, EstopState, PoliceLightState, SearchlightState
from robot_dog_interfaces.srv import (
    EstopCheckIn, EstopEngage, SetAmplifier, SetPoliceLight, SetSearchlight,
)
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Header

from firmware_bridge import port_check
from firmware_bridge.errors import CommandError
from firmware_bridge.host import FIRST_SEQ, LAST_SEQ, EventReceived, LinkConfig, McuRebooted
from firmware_bridge.messages import AckStatus, Message, SafeReason, Telemetry
from firmware_bridge.messages import Event as McuEvent
from firmware_bridge.transport import LinkEvent, LinkLost, SerialLink
from robot_dog.ros import qos
from robot_dog.ros.paced_timer import PacedTimer
from robot_dog.payload import amplifier, power
from robot_dog.payload.errors import RequestRefused
from robot_dog.payload.estop import EstopGate
from robot_dog.payload.freshness import TelemetryAge
from robot_dog.payload.hardware_estop import CheckIn, Engage, HardwareEstop, Sample
from robot_dog.payload.police_light import PoliceLightConfig, plan_light, report_from
from robot_dog.payload.searchlight import SearchlightConfig, SearchlightCore, plan_searchlight
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.priority import HIGH_PRIORITY_NICE
from robot_dog.ros.ros_main import run_node

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ButtonInTelemetry:
    """Telemetry says the button is down while the e-stop does not know it yet (its EVENT
    frame was lost): handled on the executor at once, as the EVENT would have been."""
    safe_reasons: int
    sampled: Sample


@dataclass(frozen=True)
class TelemetryBack:
    """Telemetry arrived while the mcu endpoint holds the dog for a lost link: the hardware
    e-stop's tick runs at once (the link is live again: check in, stop renewing the hold)."""


class PayloadNode(Node):
    # No EXECUTOR attribute: the default SingleThreadedExecutor (robot_dog/ros/executors.py).
    OWN_EXECUTOR = ("the MCU's check-ins and button events reach safety_node on time: composed, "
                    "never behind another node's callback")
    CPU_NICE = HIGH_PRIORITY_NICE  # and run as soon as they wake on a loaded CPU (ros/priority.py)
    # Nothing here waits in a callback: the services await the MCU's ACK (module docstring).

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("node_name", "payload")
        super().__init__(**kwargs)
        p = partial(declare_read_only, self)
        port = p("port", "/tmp/robot_dog_mcu", "serial device, pty symlink or socket:// URL")
        baud = p("baud", 115200, "serial baud rate")
        self._ack_wait_s = p("command_timeout_s", 1.0, "deadline of one MCU command, s")
        self._light_cfg = PoliceLightConfig(
            crowd_mode=p("crowd_mode", True, "limit the light bar to 3 flashes/s"),
            default_duration_s=p("light_default_duration_s", 60.0, "light lapses after this, s"))
        self._search_cfg = SearchlightConfig(
            default_duration_s=p("searchlight_default_duration_s", 60.0, "beam lapses after, s"),
            max_strobe_s=p("max_strobe_s", 10.0, "longest strobe, s"))
        self._amp_cfg = amplifier.AmplifierConfig(
            max_volume=p("amplifier_max_volume", 1.0, "highest amplifier volume cap, 0..1"),
            default_duration_s=p("amplifier_default_duration_s", 5.0, "enable lapses after, s"))
        self._power_cfg = power.PowerConfig(stale_s=p("telemetry_stale_s", 1.0, "STALE after, s"))
        first_seq = p("first_seq", FIRST_SEQ, "first command seq of each MCU session "
                      f"({FIRST_SEQ}..{LAST_SEQ}; tests start near {LAST_SEQ} to cross sessions)")
        self._searchlight = SearchlightCore(self._search_cfg)
        self._estop = EstopGate()
        mcu_timeout = p("mcu_estop_timeout_s", 2.0, "deadline of the mcu endpoint's check-ins, s: "
                        "safety_node stops the dog when payload_node itself goes quiet this long "
                        "(a lost or silent link engages at once; 0: the MCU and its button are "
                        "not e-stop endpoints)")
        silent_s = p("mcu_silent_s", 0.35, "the mcu endpoint engages when the serial link's "
                     "thread has gone this long without MCU telemetry, s (a lost port: at once)")
        self._hardware = (HardwareEstop(timeout_s=mcu_timeout, fresh_s=self._power_cfg.stale_s,
                                        lost_s=silent_s)
                          if mcu_timeout > 0 else None)
        self._no_safety_logged = False
        self._age = TelemetryAge()
        self._lock = threading.Lock()
        self._pushed: deque[LinkEvent | ButtonInTelemetry | TelemetryBack] = deque()   # link thread -> executor

        self._light_pub = self.create_publisher(PoliceLightState, "police_light/state", qos.STATE)
        self._search_pub = self.create_publisher(SearchlightState, "searchlight/state", qos.STATE)
        self._battery_pub = self.create_publisher(BatteryState, "battery", qos.TELEMETRY)
        # Absolute, as diagnostic_aggregator and rqt_robot_monitor expect; hardware_id says which dog.
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", qos.TELEMETRY)
        self._hardware_id = f"{self.get_namespace().rstrip('/')}/payload_mcu"
        self._amp_pub = self.create_publisher(AmplifierState, "amplifier/state", qos.STATE)
        services = ReentrantCallbackGroup()  # awaiting calls interleave (async, never blocking)
        self.create_service(SetPoliceLight, verbs.executor_name("police_light"), self._on_set_light,
                            callback_group=services)
        self.create_service(SetSearchlight, verbs.executor_name("searchlight"), self._on_set_searchlight,
                            callback_group=services)
        self.create_service(SetAmplifier, "amplifier/set", self._on_set_amplifier,
                            callback_group=services)
        self.create_subscription(EstopState, "estop", self._on_estop, qos.STATE,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        timers = MutuallyExclusiveCallbackGroup()
        self.create_timer(0.2, self._publish_states, callback_group=timers)
        self.create_timer(1.0, self._publish_power, callback_group=timers)
        # The hardware e-stop's timer and the pushed events share one group: on a pooled
        # executor (a composed launch) they never run at once on the same core object.
        estop_calls = MutuallyExclusiveCallbackGroup()
        if self._hardware is not None:
            self._check_in = self.create_client(EstopCheckIn, verbs.executor_name("checkin"),
                                                callback_group=estop_calls)
            self._engage = self.create_client(EstopEngage, verbs.executor_name("estop"),
                                              callback_group=estop_calls)
            self._estop_timer = PacedTimer(self, 0.05, self._tell_safety, callback_group=estop_calls)
        # The link's thread triggers this; its callback runs on the executor at once.
        self._wake = self.create_guard_condition(self._on_pushed, callback_group=estop_calls)
        self._rebooted_at: float | None = None

        # Assigned before start(): the link's thread calls _on_connected, which uses self._link.
        self._link = SerialLink(port, LinkConfig(command_deadline_s=self._ack_wait_s),
                                baudrate=baud, on_connected=self._on_connected,
                                on_telemetry=self._on_telemetry, first_seq=first_seq,
                                on_event=self._on_link_event)
        self._link.start()
        if port_check.missing_device(port):
            self.get_logger().warning(
                f"payload MCU port {port} does not exist (yet); opening it once it appears: "
                f"connect the MCU or start the virtual one ({port_check.virtual_mcu_hint(port)})")
        else:
            self.get_logger().info(f"payload MCU on {port} at {baud} baud")

    def close(self) -> None:
        """Stop the link: heartbeats stop, so the MCU makes every output safe within 0.5 s."""
        self._link.close()

    # ---- commands ------------------------------------------------------------------------

    async def _send(self, command: Message) -> Refused | None:
        """Send and await the ack; None when the MCU applied it (ACK OK), else the refusal
        (mcu_refused, mcu_timeout, mcu_link_down, superseded)."""
        try:
            status = await self._on_executor(self._link.submit(command, deadline_s=self._ack_wait_s))
        except CommandError as exc:
            return Refused(exc.code, str(exc))
        if status != AckStatus.OK:   # STALE: a newer request of the same kind took its place
            return Refused("superseded", "superseded by a newer request before the MCU applied it")
        return None

    def _on_executor(self, pending: ThreadFuture) -> Future:
        """An rclpy future completed on this node's executor when the link's `pending` is: an
        `async def` callback awaits it without holding the executor (the executor rule)."""
        executor = self.executor
        assert executor is not None, "payload_node runs on an executor"
        future = Future(executor=executor)

        def settle(done: ThreadFuture) -> None:
            error = done.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())
        # create_task is thread-safe and wakes the executor; settle then runs on its thread.
        pending.add_done_callback(lambda done: executor.create_task(settle, done))
        return future

    async def _on_set_light(self, request: SetPoliceLight.Request,
                      response: SetPoliceLight.Response) -> SetPoliceLight.Response:
        try:
            command = plan_light(request.pattern, request.rate_hz, request.duration_s,
                                 self._light_cfg)
            self._estop.check(reduces_output=command.reduces_output)
        except RequestRefused as exc:
            self._log_request("police light", request.caller, exc, request.pattern)
            return answer(response, exc)
        failure = await self._send(command.to_wire())
        self._log_request("police light", request.caller, failure,
                          f"{command.spec.name} {command.rate_hz:g} Hz")
        return answer(response, failure, f"{command.spec.name} {command.rate_hz:g} Hz "
                                         f"for {command.duration_s:g} s")

    async def _on_set_searchlight(self, request: SetSearchlight.Request,
                            response: SetSearchlight.Response) -> SetSearchlight.Response:
        try:
            planned = plan_searchlight(request.level, request.strobe, request.duration_s,
                                       self._search_cfg)
            with self._lock:
                reduces = self._searchlight.reduces(planned, time.monotonic())
            self._estop.check(reduces_output=reduces)
        except RequestRefused as exc:
            self._log_request("searchlight", request.caller, exc, f"level {request.level:g}")
            return answer(response, exc)
        with self._lock:
            command = self._searchlight.set(planned, time.monotonic())
        failure = await self._send(command)
        self._log_request("searchlight", request.caller, failure, f"level {planned.level:g}"
                          f"{' strobe' if planned.strobe else ''}")
        return answer(response, failure, f"level {planned.level:g} (driven {command.level_pm / 1000:g})"
                                         f"{' strobe' if planned.strobe else ''} for {planned.duration_s:g} s")

    def _log_request(self, what: str, caller: str, failure: Refused | None, text: str) -> None:
        """One line per person's request: who (the station account or the handheld's officer,
        when the caller named one) asked for what, and the outcome's code."""
        who = caller or "an unnamed caller"
        line = f"{what} {text} by {who}: {'ok' if failure is None else failure.code}"
        if failure is None:
            self.get_logger().info(line)
        else:
            self.get_logger().warning(line)

    async def _on_set_amplifier(self, request: SetAmplifier.Request,
                          response: SetAmplifier.Response) -> SetAmplifier.Response:
        try:
            if request.enabled:
                self._estop.check()
            telemetry, age = self._link.telemetry()
            fresh = telemetry is not None and age is not None and age <= self._power_cfg.stale_s
            command = amplifier.plan_amplifier(
                request.enabled, request.volume, request.duration_s,
                amplifier.report_from(telemetry) if fresh else None, self._amp_cfg)
        except RequestRefused as exc:
            return answer(response, exc)
        failure = await self._send(command)
        return answer(response, failure, f"on, cap {command.volume_cap_pct} % for "
                                         f"{command.duration_ms / 1000:g} s" if command.enabled else "off")

    def _on_estop(self, msg: EstopState) -> None:
        with self._lock:
            command = self._estop.update(msg.engaged, msg.reason, time.monotonic())
        if command is not None:
            self._submit(command, deadline_s=5.0)   # first: the log line is I/O, the MCU waits
            self.get_logger().warning(f"e-stop {'engaged' if msg.engaged else 'released'}: "
                                      f"SAFE({int(msg.engaged)}) sent; waiting for the MCU")

    def _on_connected(self) -> None:
        with self._lock:
            command = self._estop.sync(time.monotonic())
        if command is not None:
            self._submit(command, deadline_s=5.0)

    def _on_telemetry(self, telemetry: Telemetry) -> None:
        """Link thread: note the frame's age; hold the MCU to the e-stop until it agrees."""
        sampled_after = self._link.telemetry_sampled_after()
        with self._lock:
            self._age.on_telemetry(telemetry.uptime_ms, time.monotonic(), sampled_after)
            resend, confirmed = self._estop.on_telemetry(telemetry.safe_reasons, time.monotonic())
            engaged, resends = self._estop.engaged, self._estop.resends
        if (self._hardware is not None and telemetry.safe_reasons & SafeReason.BUTTON
                and self._hardware.button_pressed is not True):
            self._on_link_event(ButtonInTelemetry(int(telemetry.safe_reasons), _sampled(telemetry)))
        elif self._hardware is not None and self._hardware.lost:
            self._on_link_event(TelemetryBack())
        if confirmed:
            self.get_logger().warning(
                f"e-stop {'engaged: payload safe' if engaged else 'released: payload live'} "
                "(confirmed by MCU telemetry)")
        if resend is not None:
            if resends == 1 or resends % 20 == 0:   # every 10 s while it lasts, not every 0.5 s
                self.get_logger().error(f"MCU telemetry disagrees with the e-stop (engaged="
                                        f"{engaged}); sending SAFE({int(engaged)}) again "
                                        f"(resend {resends})")
            self._submit(resend, deadline_s=5.0)

    def _on_link_event(self, event: LinkEvent | ButtonInTelemetry | TelemetryBack) -> None:
        """Link thread: queue what the MCU pushed (or the port's loss) for the executor."""
        self._pushed.append(event)
        self._wake.trigger()

    def _on_pushed(self) -> None:
        """Executor: a button press or a lost link goes to safety_node now, not on a tick."""
        actions: list[CheckIn | Engage] = []
        back = False
        while self._pushed:
            event = self._pushed.popleft()
            now = time.monotonic()
            if isinstance(event, McuRebooted):
                self._rebooted_at = now
                self.get_logger().warning(f"payload MCU rebooted ({event.how}); new session, "
                                          "the e-stop state is sent again first")
            elif self._hardware is None:
                continue
            elif isinstance(event, (EventReceived, ButtonInTelemetry)):
                report = (event.event.safe_reasons, _sampled(event.event), True) \
                    if isinstance(event, EventReceived) else (event.safe_reasons, event.sampled, False)
                was = self._hardware.button_pressed
                actions += self._hardware.on_safe_reasons(now, *report)
                self._log_button(was, self._hardware.button_pressed)
            elif isinstance(event, LinkLost):
                actions += self._hardware.on_link_lost(now, event.reason)
            elif isinstance(event, TelemetryBack):
                back = True
        self._call_safety(actions)
        if back and self._hardware is not None and self._hardware.lost:
            self._tell_safety()   # check in and stop renewing the mcu hold now, not next tick

    def _submit(self, command: Message, deadline_s: float | None = None) -> None:
        """Send without waiting; a failure is logged (nobody waits for these answers)."""
        def done(future: Any) -> None:
            error = future.exception()
            if error is not None:
                self.get_logger().error(f"{type(command).__name__} not applied: {error}")
        self._link.submit(command, deadline_s).add_done_callback(done)

    def _tell_safety(self) -> None:
        """Check in for the MCU while its telemetry is fresh; engage while its button is down
        or its link is lost (the events above say it first; this tick repeats and covers a
        silent MCU)."""
        assert self._hardware is not None
        telemetry, age = self._telemetry()
        was_pressed, was_lost = self._hardware.button_pressed, self._hardware.lost
        now, silence = time.monotonic(), self._link.telemetry_silence()
        actions = self._hardware.tick(
            now, age, None if telemetry is None else telemetry.safe_reasons, silence,
            None if telemetry is None else _sampled(telemetry))
        self._log_button(was_pressed, self._hardware.button_pressed)
        self._call_safety(actions)
        if was_lost and not self._hardware.lost:
            # What the officer waits for: from now on the mcu hold is no longer renewed.
            self.get_logger().warning("payload MCU link back (live telemetry): its mcu hold "
                                      "stays until released (robot-dog teleop release mcu)")
        self._estop_timer.arm(self._hardware.next_tick(now, silence) - now, after_tick=True)

    def _log_button(self, was: bool | None, pressed: bool | None) -> None:
        if pressed is not None and was is not None and pressed != was:
            self.get_logger().warning(
                "payload e-stop button pressed" if pressed else
                "payload e-stop button pulled out; the dog stays stopped until its hold is "
                "released (robot-dog teleop release button)")

    def _call_safety(self, actions: list[CheckIn | Engage]) -> None:
        if not actions:
            return
        if not (self._check_in.service_is_ready() and self._engage.service_is_ready()):
            if not self._no_safety_logged:
                self._no_safety_logged = True
                self.get_logger().warning("no safety_node (estop/check_in not served): the MCU "
                                          "and its e-stop button are not watched until it is up")
            return
        if self._no_safety_logged:
            self._no_safety_logged = False
            self.get_logger().info("safety_node up: the MCU and its button are e-stop endpoints")
        for action in actions:
            if isinstance(action, CheckIn):
                future = self._check_in.call_async(EstopCheckIn.Request(
                    endpoint=action.endpoint, timeout_s=action.timeout_s))
                what = f"check-in of {action.endpoint}"
            else:
                assert isinstance(action, Engage)
                future = self._engage.call_async(EstopEngage.Request(
                    endpoint=action.endpoint, reason=action.reason))
                what = f"e-stop engage by {action.endpoint}"
                self.get_logger().warning(f"{what}: {action.reason}")   # after the request
            future.add_done_callback(partial(self._estop_answer, what))

    def _estop_answer(self, what: str, future: Any) -> None:
        reply = future.result()
        if reply is not None and not reply.accepted:
            self.get_logger().error(f"{what} refused by safety_node: {reply.message}",
                                    throttle_duration_sec=10.0)

    def _rebooted_ago(self) -> float | None:
        return None if self._rebooted_at is None else time.monotonic() - self._rebooted_at

    # ---- state out -----------------------------------------------------------------------

    def _telemetry(self) -> tuple[Telemetry | None, float | None]:
        """Newest telemetry and its age on the MCU's time base (late frames count as old)."""
        telemetry, _ = self._link.telemetry()
        with self._lock:
            return telemetry, self._age.age(time.monotonic())

    def _publish_states(self) -> None:
        telemetry, age = self._telemetry()
        if telemetry is None or age is None or age > self._power_cfg.stale_s:
            return  # stale: diagnostics say so; states are not re-published as if current
        now = self.get_clock().now()
        light = report_from(telemetry)
        header = Header(stamp=now.to_msg())
        self._light_pub.publish(PoliceLightState(
            header=header, pattern=light.pattern, rate_hz=light.rate_hz, alternation_hz=light.alternation_hz,
            red_on=light.red_on, blue_on=light.blue_on, safe_state=light.safe_state,
            expires=_after(now, light.remaining_s)))
        with self._lock:
            relevel = self._searchlight.on_temperature(telemetry.searchlight_temp_dc / 10,
                                                       time.monotonic())
            request = self._searchlight.active(time.monotonic())
            derating = self._searchlight.derating
        if relevel is not None:
            self._submit(relevel)
        self._search_pub.publish(SearchlightState(
            header=header, level_requested=float(request.level if request else 0.0),
            level_actual=telemetry.searchlight_level_pm / 1000, strobe=telemetry.searchlight_strobe,
            temperature_c=telemetry.searchlight_temp_dc / 10, derating=derating,
            expires=_after(now, telemetry.searchlight_remaining_ms / 1000)))
        amp = amplifier.report_from(telemetry)
        self._amp_pub.publish(AmplifierState(
            header=header, enabled=amp.enabled, volume_cap=amp.volume_cap,
            temperature_c=amp.temperature_c, overtemp=amp.overtemp, safe_state=amp.safe_state,
            expires=_after(now, amp.remaining_s)))

    def _publish_power(self) -> None:
        telemetry, age = self._telemetry()
        stamp = self.get_clock().now().to_msg()
        if telemetry is not None and age is not None and age <= self._power_cfg.stale_s:
            b = power.battery_from(telemetry, self._power_cfg)
            msg = BatteryState(
                voltage=b.voltage_v, current=b.current_a, charge=b.charge_ah,
                capacity=b.capacity_ah, design_capacity=b.capacity_ah, percentage=b.percentage,
                temperature=b.temperature_c, present=True,
                power_supply_status=(BatteryState.POWER_SUPPLY_STATUS_DISCHARGING if b.discharging
                                     else BatteryState.POWER_SUPPLY_STATUS_CHARGING),
                power_supply_health=(BatteryState.POWER_SUPPLY_HEALTH_OVERHEAT if b.overheat
                                     else BatteryState.POWER_SUPPLY_HEALTH_GOOD),
                power_supply_technology=BatteryState.POWER_SUPPLY_TECHNOLOGY_LION)
            msg.header.stamp = stamp
            self._battery_pub.publish(msg)
        stats, decoder = self._link.protocol.stats, self._link.protocol.decoder
        link = {"port": self._link.url, "host_bad_frames": str(decoder.bad_total),
                "host_refused_frames": str(decoder.refused_total),
                "telemetry_lost": str(stats.telemetry_gaps), "resends": str(stats.retries),
                "command_timeouts": str(stats.timeouts), "sessions": str(stats.sessions),
                "reconnects": str(self._link.reconnects), "mcu_reboots": str(stats.mcu_reboots),
                "protocol_version": str(self._link.protocol.version)}
        statuses = power.diagnose(telemetry, age, self._link.state.value, self._power_cfg, link,
                                  rebooted_ago_s=self._rebooted_ago())
        array = DiagnosticArray(status=[
            DiagnosticStatus(level=bytes([int(s.level)]), name=f"{self.get_name()}: {s.name}",
                             message=s.message, hardware_id=self._hardware_id,
                             values=[KeyValue(key=k, value=v) for k, v in s.values.items()])
            for s in statuses])
        array.header.stamp = stamp
        self._diag_pub.publish(array)


def _sampled(report: Telemetry | McuEvent) -> Sample:
    """When the MCU sampled a frame, on its own clock (orders its word: hardware_estop.py)."""
    return Sample(report.boot_id, report.uptime_ms)


def _after(now: Any, seconds: float) -> Time:
    """ROS time `seconds` after `now` (an rclpy Time)."""
    nanos = now.nanoseconds + int(seconds * 1e9)
    return Time(sec=nanos // 1_000_000_000, nanosec=nanos % 1_000_000_000)


def main() -> int:
    return run_node(PayloadNode)


if __name__ == "__main__":
    raise SystemExit(main())
