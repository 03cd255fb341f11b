"""Uplink node: the ROS topics of one dog <-> its MQTT tree `patrol/v1/{dog}/...` (docs/mqtt.md).

Shell only: the link (status/LWT, outbox, commands) is `session.UplinkSession`, telemetry
sections `telemetry`, events `events`, the video policy `adapt`, verbs -> services `commands`.
TLS and fleet credentials when `ca_file` is set, plain loopback otherwise (demo). The MQTT
thread never blocks: accepted commands go through a queue to this node's executor, service
calls are asynchronous with an explicit deadline.
"""
from __future__ import annotations

import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from robot_dog_interfaces.msg import (AudioChunk, EstopState, GoalState, PoliceLightState, RecorderStatus,
                                      SearchlightState, SoundEvent)
from sensor_msgs.msg import BatteryState, CompressedImage
from std_msgs.msg import String

from robot_dog.audio import voices
from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.pcm import samples_field, to_int16, to_internal
from robot_dog.log_rate import worth_a_line
from robot_dog import verbs
from robot_dog.mqtt import signing
from robot_dog.ros import qos
from robot_dog.ros.interfaces import interface
from robot_dog.ros.params import declare_read_only
from robot_dog.ros.ros_main import run_node
from robot_dog.alarm_policy import severity_of
from robot_dog.uplink import adapt, commands, lifecycle, talk, telemetry as tm
from robot_dog.uplink.evidence_upload import EvidenceUploader, UploadConfig
from robot_dog.uplink.events import EstopWatch, EventFactory, GoalWatch, LowBattery, forwarded
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from robot_dog.uplink.video import reencode

class UplinkNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "uplink"), **kwargs)
        self.handler_errors: Counter[str] = Counter()  # "telemetry:ValueError" -> count
        p = partial(declare_read_only, self)
        self.dog = p("dog_id", "dog1", "dog ID in the MQTT tree (= fleet user name)")
        ca, pw_file, key = (p("ca_file", "", "fleet CA (TLS); empty: plain loopback"),
                            p("password_file", "", "file holding the broker password"),
                            p("command_public_key", "", "dog's command.pub; empty: no commands"))
        cert, cert_key = (p("cert_file", "", "client certificate for the fleet's certificate "
                            "listener (then no password_file); empty: password login"),
                          p("key_file", "", "the client certificate's key"))
        result_key = p("result_key", "", "the dog's key that signs its command results; empty: "
                       "result.key beside command_public_key")
        cfg = UplinkConfig(
            dog=self.dog, host=p("broker_host", "127.0.0.1", "MQTT broker host"),
            port=p("broker_port", 1883, "MQTT broker port"),
            username=p("username", "", "broker user; empty: the dog id"),
            password=Path(pw_file).read_text().strip() if pw_file else "",
            ca_file=Path(ca) if ca else None, command_public_key=Path(key) if key else None,
            result_key=Path(result_key) if result_key else None,
            cert_file=Path(cert) if cert else None, key_file=Path(cert_key) if cert_key else None,
            state_dir=Path(p("state_dir", "var/uplink", "outbox directory (survives restarts)")),
            outbox_max_bytes=int(p("outbox_max_mb", 100.0, "outbox bound, MB") * 1e6))
        telemetry_hz = p("telemetry_hz", 2.0, "telemetry rate, Hz (1-10)")
        self.adapt_cfg = adapt.AdaptConfig()
        self.adapt_state = adapt.AdaptState()
        self.max_hz = p("video_max_hz", 15.0, "video frames per second at most")
        self.video_gate = tm.RateGate(self.max_hz)
        self.state = tm.TelemetryState(self.dog, seq=tm.boot_seq(time.time()))
        self.events, self.estop, self.low_battery = EventFactory(self.dog), EstopWatch(), LowBattery()
        self.goal_watch = GoalWatch()

        self._wake = self.create_guard_condition(self._guarded("commands", self._run_commands))
        self._service_clients = {name: self.create_client(interface(service.srv, "srv"), name)
                                 for name, service in verbs.services(verbs.STATION).items()}
        self._lifecycle: lifecycle.CommandLifecycle[Any] = lifecycle.CommandLifecycle(
            station_deadline_s=p("station_deadline_s", commands.STATION_DEADLINE_S,
                                 "the station is lost this long after its last signed check-in, s"))
        self._action_clients = {e.name: (ActionClient(self, interface(e.action, "action"), e.name),
                                         interface(e.action, "action"))
                                for v in verbs.VERBS.values() if isinstance(e := v.executor, verbs.Action)}
        self.voice_in = talk.VoiceIn()
        self.mic_out = talk.MicOut(lambda: int(time.time() * 1000))
        self._voice_pub = self.create_publisher(AudioChunk, voices.STATION.topic, qos.SENSOR)
        self.session = UplinkSession(cfg, on_command=self._queue_command,
                                     on_voice=self._guarded("voice", self._on_voice))
        evidence_dir = p("evidence_dir", "", "the bodycam recorder's evidence directory, read to "
                         "upload closed items (the same path as bodycam_node's); empty: no upload")
        upload = UploadConfig(
            rate_bytes_s=p("evidence_rate_kbps", 2000.0, "evidence upload cap, kbit/s (live "
                           "video and telemetry keep the rest of the link)") * 125.0,
            resend_after_s=p("evidence_resend_s", 120.0, "an item sent in full and not "
                             "acknowledged by the station is sent again after this, s"))
        if evidence_dir:
            self.session.upload_evidence(EvidenceUploader(
                Path(evidence_dir), self.dog, cfg.state_dir / f"evidence-upload-{self.dog}.json", upload))
        self.session.start()

        def sub(msg_type: Any, topic: str, callback: Callable[[Any], None], profile: Any) -> Any:
            return self.create_subscription(msg_type, topic, self._guarded(topic, callback), profile)
        self._sub = sub
        sub(CompressedImage, "bodycam/image/compressed", self._on_frame, qos.SENSOR)
        sub(Odometry, "odom", self._on_odom, qos.TELEMETRY)
        sub(BatteryState, "battery", self._on_battery, qos.TELEMETRY)
        sub(PoliceLightState, "police_light/state", lambda m: self._put("payload.police_light",
            tm.police_light_section(m.pattern, m.red_on, m.blue_on)), qos.STATE)
        sub(SearchlightState, "searchlight/state", lambda m: self._put("payload.searchlight",
            tm.searchlight_section(m.level_actual, m.strobe, m.temperature_c, m.derating)), qos.STATE)
        sub(RecorderStatus, "bodycam/status", self._on_recorder, qos.STATE)
        sub(EstopState, "estop", self._on_estop, qos.STATE)
        sub(GoalState, "patrol/goal", self._on_goal, qos.STATE)
        sub(SoundEvent, "microphone/events", self._on_sound, qos.COMMAND)
        # `microphone/audio` (50 chunks a second) only while a listen window is open: at rest
        # each chunk was a wake of this node that dropped it (_listen, _tick).
        self._mic_sub: Any = None
        sub(String, "teleop/events", self._on_teleop_event, qos.EVENTS)
        # The link's timers run on the steady wall clock even in a simulated run on sim time: the
        # broker, the station's rate limits and the link's deadlines live in wall time, so a run
        # at 5x real time must not send telemetry 5x as often (nor a paused one stop sending).
        wall = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / telemetry_hz, self._guarded("telemetry", self._publish_telemetry),
                          clock=wall)
        self.create_timer(0.5, self._guarded("tick", self._tick), clock=wall)

    def _guarded(self, name: str, callback: Callable[..., None]) -> Callable[..., None]:
        """Every callback of this node: an exception is counted and logged, never the end of
        the node (its MQTT link carries the dog's commands, e-stop included)."""
        def run(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:  # noqa: BLE001
                if not self.context.ok():
                    return  # shutting down: the context went under a running callback
                kind = f"{name}:{type(exc).__name__}"
                self.handler_errors[kind] += 1
                n = self.handler_errors[kind]
                if n == 1:
                    self.get_logger().error(f"{name} failed (first {type(exc).__name__}; the "
                                            f"node goes on): {traceback.format_exc()}")
                elif worth_a_line(n):
                    self.get_logger().error(f"{name} failed: {exc} (#{n} of this kind)")
        return run

    def _put(self, name: str, section: dict[str, Any] | list[str]) -> None:
        self.state.update(name, section, time.time())

    # --- ROS inputs ------------------------------------------------------------------------------
    def _on_frame(self, msg: CompressedImage) -> None:
        if not self.video_gate.admit(time.monotonic()):
            return  # live-only: a frame that cannot go now is never worth sending later
        level = self.adapt_cfg.ladder[self.adapt_state.level]
        jpeg = bytes(msg.data)
        if level.quality:
            jpeg = reencode(jpeg, level.quality, level.scale)
        self.session.send_frame("bodycam", jpeg)

    def _on_recorder(self, msg: RecorderStatus) -> None:
        uploader = self.session.uploader
        self._put("payload.bodycam", tm.recorder_section(
            msg.state, msg.reason, pre_event_s=msg.pre_event_s, storage=msg.storage,
            bytes_used=msg.bytes_used, bytes_free=msg.bytes_free, locked=msg.locked,
            recording_id=msg.recording_id,
            backlog=uploader.backlog() if uploader is not None else None))

    def _on_odom(self, msg: Odometry) -> None:
        p, o, t = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        pose = tm.pose_section(p.x, p.y, p.z, o.x, o.y, o.z, o.w, msg.header.frame_id)
        velocity = tm.velocity_section(t.linear.x, t.linear.y, t.angular.z)
        if pose is not None:
            self._put("pose", pose)
        if velocity is not None:
            self._put("velocity", velocity)

    def _on_battery(self, msg: BatteryState) -> None:
        section = tm.battery_section(msg.percentage, msg.voltage, msg.current, msg.temperature,
                                     msg.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_CHARGING)
        self._put("battery", section)
        if "percentage" in section and self.low_battery.update(section["percentage"]):
            self._event("low_battery", severity_of("low_battery", section),
                        f"battery at {section['percentage']:.0%}", section)

    def _on_goal(self, msg: GoalState) -> None:
        self._put("goal", tm.goal_section(msg.label, msg.state, msg.detail, msg.waypoint_index,
                                          msg.distance_left_m, msg.eta_s, msg.target_x, msg.target_y,
                                          msg.waypoints))
        ended = self.goal_watch.update(msg.label, msg.state, msg.detail)
        if ended is not None:
            severity, text = ended
            self._event("goal", severity, text, {"label": msg.label, "state": msg.state})

    def _on_estop(self, msg: EstopState) -> None:
        self._put("safety", tm.safety_section(msg.engaged, msg.reason))
        change = self.estop.update(msg.engaged, msg.reason)
        if change:
            severity, text, reason = change
            self._event("estop", severity, text, {"engaged": msg.engaged, "reason": reason})

    def _on_sound(self, msg: SoundEvent) -> None:
        data = {"class": msg.kind[:32], "level_dbfs": float(msg.peak_dbfs),
                "confidence": float(msg.confidence)}
        self._event("sound", severity_of("sound", data), msg.kind, data)

    def _on_teleop_event(self, msg: String) -> None:
        """The officer's phone: handheld actions and task answers, to the station as they are
        (a malformed one raises: counted and logged by _guarded, never sent), with the alarm
        policy's severity as every event (teleop's own stands for a type the policy lacks)."""
        type_, severity, message, data = forwarded(msg.data)
        self._event(type_, severity_of(type_, data, severity), message, data)

    def _on_mic(self, msg: AudioChunk) -> None:
        if not self.mic_out.window.live(time.monotonic()):
            self.mic_out.feed(np.zeros(0, np.int16), time.monotonic())  # ends a session
            return
        samples = np.asarray(msg.samples, dtype=np.int16)
        if msg.sample_rate != RATE_HZ or msg.channels != 1:
            samples = to_int16(to_internal(samples, msg.sample_rate, msg.channels))
        for packet in self.mic_out.feed(samples, time.monotonic()):
            self.session.send_audio("mic", packet)

    def _on_voice(self, payload: bytes) -> None:
        """MQTT thread: a cmd/voice packet -> megaphone/voice/station, only inside the talk
        window."""
        try:
            sequence, samples = self.voice_in.accept(payload, time.monotonic())
        except talk.VoiceRefused as exc:
            run = self.voice_in.refused_run  # logged as a run starts, then sparsely, and
            if worth_a_line(run) or self.voice_in.refused[exc.code] == 1:  # each new reason
                total = sum(self.voice_in.refused.values())
                self.get_logger().warning(f"voice packet refused: {exc} ({exc.code}, "
                                          f"{run} in a row, {total} in all)")
            return
        msg = AudioChunk(sample_rate=RATE_HZ, channels=1, sequence=sequence)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.samples = samples_field(samples)
        self._voice_pub.publish(msg)

    def _event(self, type_: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """One event to the station, stamped now (and on sim time, `sim_ts`)."""
        self.session.put_event(self._sim_stamped(self.events.make(time.time(), type_, severity,
                                                                  message, data)))

    def _sim_stamped(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`doc` with `sim_ts`, the node's clock, when it runs on sim time: a developer lines up
        what reached the station with the simulated run's ROS stamps. `ts` stays wall time: the
        station has no sim clock, and judges ages, freshness and signed times by its own."""
        if self.get_parameter("use_sim_time").value:
            doc["sim_ts"] = round(self.get_clock().now().nanoseconds / 1e9, 6)
        return doc

    # --- timers ----------------------------------------------------------------------------------
    def _publish_telemetry(self) -> None:
        level = self.adapt_cfg.ladder[self.adapt_state.level]
        self._put("link", self.session.link_section())
        self._put("served", verbs.served(verbs.STATION, self._ready))
        self._put("video", {"frames_sent": self.session.frames_sent, "level": self.adapt_state.level,
                            "frames_skipped": self.session.frames_skipped,
                            "max_hz": min(level.max_hz, self.max_hz), **(
                                {"quality": level.quality} if level.quality else {})})
        self.session.put_telemetry(self._sim_stamped(self.state.snapshot(time.time())))

    def _tick(self) -> None:
        """Video adaptation, command deadlines, and a session that stopped moving (restarted)."""
        self.session.check_liveness()
        now = time.monotonic()
        before = self.adapt_state.level
        self.adapt_state = adapt.next_level(self.adapt_state, self.session.meter.sample(), now,
                                            self.adapt_cfg)
        if self.adapt_state.level != before:
            level = self.adapt_cfg.ladder[self.adapt_state.level]
            self.video_gate.set_rate(min(level.max_hz, self.max_hz))
            self.get_logger().info(f"video level {before} -> {self.adapt_state.level}: {level}")
        for future, answer in self._lifecycle.expire(now):
            future.cancel()
            self._send(answer)
        self._listen(now)

    def _listen(self, now: float) -> None:
        """Subscribe to `microphone/audio` while the listen window is live, and only then (a
        closed window ends the listening session at once; chunks that still come before this
        runs are dropped by `_on_mic`)."""
        live = self.mic_out.window.live(now)
        if live and self._mic_sub is None:
            self._mic_sub = self._sub(AudioChunk, "microphone/audio", self._on_mic, qos.SENSOR)
        elif not live and self._mic_sub is not None:
            self.destroy_subscription(self._mic_sub)
            self._mic_sub = None
            self.mic_out.feed(np.zeros(0, np.int16), now)  # ends the session: a fresh encoder next

    # --- commands (the lifecycle is uplink/lifecycle.py; this only makes the calls) ------------
    def _queue_command(self, cmd: signing.Command) -> None:
        """MQTT thread: hand over, never block."""
        busy = self._lifecycle.submit(cmd)
        if busy is not None:
            self._send(busy)
            return
        self._wake.trigger()

    def _ready(self, name: str) -> bool:
        if name in self._service_clients:
            return bool(self._service_clients[name].service_is_ready())
        return bool(self._action_clients[name][0].server_is_ready())

    def _run_commands(self) -> None:
        for step in self._lifecycle.drain(self._ready):
            if isinstance(step, lifecycle.Answer):
                self._send(step)
            elif isinstance(step, lifecycle.Window):
                stream = self.mic_out if step.window.direction == "listen" else self.voice_in
                stream.open(step.window, time.monotonic())
                self._listen(time.monotonic())
                self._send(step.answer)
            elif isinstance(step.request, commands.ServiceCall):
                client = self._service_clients[step.request.service]
                future = client.call_async(client.srv_type.Request(**step.request.fields))
                self._lifecycle.started(step, future, time.monotonic())
                future.add_done_callback(lambda f, c=step.command: self._service_done(f, c))
            else:
                action, action_type = self._action_clients[step.request.name]
                future = action.send_goal_async(action_type.Goal(**step.request.fields))
                self._lifecycle.started(step, future, time.monotonic())
                future.add_done_callback(lambda f, c=step.command: self._goal_done(f, c))

    def _service_done(self, future: Any, cmd: signing.Command) -> None:
        error = "cancelled" if future.cancelled() else str(future.exception() or "")
        self._send(self._lifecycle.service_done(cmd, None if error else future.result(), error))

    def _goal_done(self, future: Any, cmd: signing.Command) -> None:
        error = "cancelled" if future.cancelled() else str(future.exception() or "")
        self._send(self._lifecycle.goal_done(cmd, not error and bool(future.result().accepted), error))

    def _send(self, answer: lifecycle.Answer | None) -> None:
        if answer is None:
            return
        if not answer.send:   # a heartbeat to a dog without safety_node: a log line now and then
            self.handler_errors[f"{answer.command.verb}:{answer.code}"] += 1
            if worth_a_line(self.handler_errors[f"{answer.command.verb}:{answer.code}"]):
                self.get_logger().warning(f"{answer.command.verb}: {answer.message}")
            return
        self._answer(answer.command, answer.code, answer.message, answer.data)

    def _answer(self, cmd: signing.Command, code: str, message: str,
                data: dict[str, Any] | None = None) -> None:
        # the issuer: the person the dog acted for (never the result's data: a sealed secret)
        text = f"command {cmd.verb} ({cmd.nonce}) by {cmd.issuer} -> {code} {message}"
        if code == "ok":  # two call sites: rclpy refuses one site logging at two severities
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        self.session.answer(cmd, code, message, data)

    def close(self) -> None:
        self.session.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(UplinkNode, args)


if __name__ == "__main__":
    sys.exit(main())
