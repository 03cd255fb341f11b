"""The dog's side of the MQTT link, without ROS: Link + Outbox/Forwarder + command verifier.

The node (uplink/node.py) feeds it from ROS; tests and benchmarks drive it directly. What goes
where (docs/mqtt.md):
  status     retained "online" on every connect, Last Will "offline", "offline" on stop
  telemetry  schema-encoded -> outbox (priority TELEMETRY) -> forwarder (PUBACK removes)
  events     schema-encoded -> outbox (priority EVENT)
  video      direct, QoS 0, expiry 2 s, only while connected and the link keeps up
  cmd/{verb} verified on paho's thread (cheap); rejections answered on cmd/result at once,
             accepted commands handed to `on_command` (the node queues them for its executor)
  cmd/voice  talk packets (unsigned), handed to `on_voice` as they come; the node plays them
             only inside a signed `talk` window (uplink/talk.py)
  audio/mic  listen-in packets, direct, QoS 0, expiry 2 s, live only (like video)
  evidence   manifests and chunks from the evidence uploader (uplink/evidence_upload.py) ->
             outbox (priority EVIDENCE, the lowest, rate-capped); the station's signed
             `evidence_ack` is handled here (it releases footage), never passed to `on_command`
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_dog.bodycam.store import StoreError
from robot_dog.mqtt import client, evidence, results, schema, signing, topics
from robot_dog.mqtt.errors import MqttLinkError, NotConnected
from robot_dog.mqtt.forwarder import Forwarder
from robot_dog.mqtt.store_forward import DEFAULT_MAX_BYTES, Outbox, Priority
from robot_dog.uplink.adapt import LinkMeter
from robot_dog.uplink.evidence_upload import EvidenceUploader
from robot_dog.uplink.liveness import DEFAULT_STALL_S, LinkWatch

_LOGGER = logging.getLogger(__name__)

VIDEO_EXPIRY_S = 2.0
AUDIO_EXPIRY_S = 2.0
GOODBYE_DEADLINE_S = 2.0


@dataclass(frozen=True)
class UplinkConfig:
    dog: str
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""                       # "" = the dog id (fleet user names are dog ids)
    password: str = ""
    ca_file: Path | None = None              # None: plain TCP (loopback debugging only)
    cert_file: Path | None = None            # client certificate (fleet `--cert`): no password
    key_file: Path | None = None
    command_public_key: Path | None = None   # None: commands disabled (not subscribed)
    # The dog's own key that signs its cmd/result (docs/security.md#command-results); None:
    # result.key beside command_public_key, as `robot-dog fleet` lays out dogs/<dog>/.
    result_key: Path | None = None
    state_dir: Path = Path("var/uplink")     # the outbox lives here (survives restarts)
    outbox_max_bytes: int = DEFAULT_MAX_BYTES
    reconnect_s: tuple[float, float] = (1.0, 10.0)
    stall_s: float = DEFAULT_STALL_S          # connected, messages queued, no PUBACK: restart


def _load_result_key(cfg: UplinkConfig) -> Any:
    path = cfg.result_key or Path(cfg.command_public_key).with_name("result.key")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no result key, so this dog's answers would be refused "
                                f"by the station; `robot-dog fleet refresh FLEET` makes one")
    return signing.load_signing_key(path)


class UplinkSession:
    def __init__(self, cfg: UplinkConfig, *, on_command: Callable[[signing.Command], None] | None = None,
                 on_voice: Callable[[bytes], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.dog = cfg, topics.check_dog(cfg.dog)
        self._clock, self._mono = clock, monotonic
        self._on_command = on_command
        self._on_voice = on_voice
        self.rejected: Counter[str] = Counter()
        self.meter = LinkMeter()
        self.frames_sent = self.frames_skipped = 0
        self._goodbye_mid: int | None = None
        self._goodbye_acked = threading.Event()
        self.verifier = self.results = None
        if cfg.command_public_key is not None:
            self.verifier = signing.CommandVerifier(
                self.dog, signing.load_verify_key(cfg.command_public_key), clock=clock)
            self.results = results.ResultSigner(self.dog, _load_result_key(cfg), clock)
        self.outbox = Outbox(Path(cfg.state_dir) / f"outbox-{self.dog}.sqlite", cfg.outbox_max_bytes)
        self.forwarder = Forwarder(self.outbox, self._publish_queued)
        self.watch = LinkWatch(cfg.stall_s)
        self.uploader: EvidenceUploader | None = None
        self._evidence_stop = threading.Event()
        self._evidence_thread: threading.Thread | None = None
        self.link = self._new_link()

    def _new_link(self) -> client.Link:
        cfg = self.cfg
        endpoint = client.Endpoint(cfg.host, cfg.port, cfg.username or self.dog, cfg.password,
                                   client_id=self.dog, ca_file=cfg.ca_file,
                                   cert_file=cfg.cert_file, key_file=cfg.key_file)
        link = client.Link(endpoint, will=client.status_will(self.dog),
                           on_connected=self._connected, on_disconnected=self._disconnected,
                           on_message=self._message, on_acked=self._acked,
                           reconnect_s=cfg.reconnect_s)
        if self.verifier is not None:
            # no_local: our own cmd/result (matched by cmd/+) is not echoed back to us.
            link.keep_subscribed(topics.commands_of(self.dog), qos=1, no_local=True)
        return link

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> UplinkSession:
        self.link.start()
        _LOGGER.info("uplink %s -> mqtt%s://%s:%d (commands %s)", self.dog,
                     "s" if self.cfg.ca_file else "", self.cfg.host, self.cfg.port,
                     "verified" if self.verifier else "disabled: no command_public_key")
        return self

    def upload_evidence(self, uploader: EvidenceUploader, period_s: float = 0.2) -> None:
        """Upload evidence from `uploader` on a thread of its own (it reads files, hashes and
        fsyncs its progress: never on the node's executor, which carries the commands)."""
        self.uploader = uploader

        def run() -> None:
            while not self._evidence_stop.wait(period_s):
                try:
                    self.pump_evidence()
                except Exception:
                    _LOGGER.exception("evidence upload failed; trying again")
        self._evidence_thread = threading.Thread(target=run, name="evidence-upload", daemon=True)
        self._evidence_thread.start()

    def stop(self) -> None:
        """An orderly exit is 'offline' too (not only a dropped link); then close the outbox."""
        self._evidence_stop.set()
        if self._evidence_thread is not None:
            self._evidence_thread.join(10)
        if self.link.connected:
            try:
                self._goodbye_mid = self.link.publish(topics.status(self.dog), topics.OFFLINE,
                                                      qos=1, retain=True)
                self._goodbye_acked.wait(GOODBYE_DEADLINE_S)
            except MqttLinkError:
                pass
        self.link.stop()
        self.outbox.close()

    @property
    def connected(self) -> bool:
        return self.link.connected

    def check_liveness(self) -> bool:
        """Call periodically (the node: every 0.5 s). Restarts a session that says it is up but
        has acknowledged nothing queued for `stall_s` (uplink/liveness.py); True if it did."""
        now = self._mono()
        stalled = self.watch.stalled_for(now)
        if not self.watch.due(now, connected=self.link.connected, backlog=len(self.outbox)):
            return False
        _LOGGER.error("uplink %s: connected but no PUBACK for %.0f s with %d message(s) queued: "
                      "restarting the MQTT session (restart #%d)", self.dog, stalled,
                      len(self.outbox), self.watch.restarts)
        self.restart_link()
        return True

    def restart_link(self) -> None:
        """Replace the MQTT session: the old one is abandoned (its callbacks detached, stopped in
        the background so a stuck thread cannot block us), a new one connects under the same
        client id (the broker drops the old connection); the outbox resends what was unacked."""
        old, self.link = self.link, self._new_link()
        old.abandon()
        self.forwarder.on_disconnected()
        self.meter.reset()
        self.link.start()

    # --- outgoing ------------------------------------------------------------------------------
    def put_telemetry(self, doc: dict[str, Any]) -> None:
        self.outbox.put(topics.telemetry(self.dog), schema.encode("telemetry", doc), 1,
                        Priority.TELEMETRY)
        self.forwarder.pump()

    def put_event(self, doc: dict[str, Any]) -> None:
        self.outbox.put(topics.events(self.dog), schema.encode("event", doc), 1, Priority.EVENT)
        _LOGGER.info("event %s %s: %s", doc["type"], doc["severity"], doc.get("message", ""))
        self.forwarder.pump()

    def pump_evidence(self) -> int:
        """Let the evidence uploader put what it may into the outbox (call often: 5 Hz)."""
        if self.uploader is None:
            return 0
        messages = self.uploader.tick(self.outbox.counts())
        for topic, payload in messages:
            self.outbox.put(topic, payload, 1, Priority.EVIDENCE)
        if messages:
            self.forwarder.pump()
        return len(messages)

    def _evidence_ack(self, command: signing.Command) -> None:
        """A verified `evidence_ack` (paho thread): release the items, answer on cmd/result."""
        if self.uploader is None:
            self.answer(command, "unavailable", "this dog uploads no evidence")
            return
        try:
            recording, items = evidence.parse_ack(command.args)
            new = self.uploader.on_ack(recording, items, f"station:{command.issuer}")
        except evidence.EvidenceMessageError as exc:
            self.answer(command, "bad_args", str(exc))
            return
        except (StoreError, OSError) as exc:
            _LOGGER.error("evidence_ack refused: %s", exc)
            self.answer(command, "refused", str(exc))
            return
        _LOGGER.info("station holds %s items %s verified (new: %s)", recording,
                     [s for s, _ in items], new)
        self.answer(command, "ok", f"released {len(new)} item(s)")

    def send_frame(self, camera: str, jpeg: bytes) -> bool:
        """Live only: False (frame dropped) when the link is down."""
        if not self.link.connected:
            self.frames_skipped += 1
            return False
        t0 = self._mono()
        try:
            mid = self.link.publish(topics.video(self.dog, camera), jpeg, qos=0,
                                    expiry_s=VIDEO_EXPIRY_S)
        except MqttLinkError:
            self.frames_skipped += 1
            return False
        self.meter.sent(mid, len(jpeg), t0, video=True)
        self.frames_sent += 1
        return True

    def send_audio(self, source: str, packet: bytes) -> bool:
        """Live only (QoS 0, expiry 2 s): False (dropped) when the link is down."""
        if not self.link.connected:
            return False
        try:
            self.link.publish(topics.audio(self.dog, source), packet, qos=0, expiry_s=AUDIO_EXPIRY_S)
        except MqttLinkError:
            return False
        return True

    def answer(self, command: signing.Command, code: str, message: str = "",
               data: dict[str, Any] | None = None) -> None:
        """Answer a verified command on cmd/result, signed with the dog's result key."""
        self.send_result(self.results.result(code, command=command, message=message, data=data))

    def send_result(self, payload: bytes) -> None:
        """cmd/result (signed), direct (QoS 1); dropped with a log line when the link is down."""
        try:
            self.link.publish(topics.cmd_result(self.dog), payload, qos=1)
        except MqttLinkError as exc:
            _LOGGER.warning("cmd/result not sent (%s)", exc)

    def link_section(self) -> dict[str, Any]:
        """Telemetry `link` section: measured RTT/throughput and the outbox backlog."""
        out: dict[str, Any] = {"connected": self.link.connected,
                               "throughput_bps": round(self.meter.throughput_bps(self._mono()), 1),
                               "backlog_bytes": self.outbox.size_bytes,
                               "backlog_messages": len(self.outbox),
                               "dropped": self.outbox.dropped}
        if self.meter.rtt_ms is not None:
            out["rtt_ms"] = round(self.meter.rtt_ms, 2)
        return out

    # --- paho thread -----------------------------------------------------------------------------
    def _publish_queued(self, topic: str, payload: bytes, qos: int) -> int:
        t0 = self._mono()
        mid = self.link.publish(topic, payload, qos)
        self.meter.sent(mid, len(payload), t0)
        return mid

    def _connected(self) -> None:
        try:
            self.link.publish(topics.status(self.dog), topics.ONLINE, qos=1, retain=True)
        except NotConnected:
            return
        self.forwarder.on_connected()

    def _disconnected(self, reason: str) -> None:
        self.forwarder.on_disconnected()
        self.meter.reset()

    def _acked(self, mid: int, ok: bool, reason: str) -> None:
        now = self._mono()
        self.watch.progress(now)
        self.meter.acked(mid, now)
        if mid == self._goodbye_mid:
            self._goodbye_acked.set()
        self.forwarder.on_acked(mid, ok)

    def _message(self, topic: str, payload: bytes) -> None:
        try:
            t = topics.parse(topic)
        except topics.TopicError:
            return
        if t.kind is topics.Kind.VOICE:
            if self.verifier is not None and self._on_voice is not None:
                self._on_voice(payload)  # gated by the signed talk window (the node)
            return
        if t.kind is not topics.Kind.CMD or self.verifier is None:
            return  # cmd/result written by someone else: informational, never acted on
        try:
            command = self.verifier.verify(payload, verb=t.sub)
        except signing.CommandRejected as exc:
            self.rejected[exc.code] += 1
            _LOGGER.warning("rejected command on %s: %s (%s)", topic[:120], exc.code, exc)
            self.send_result(self.results.rejection(payload, exc))
            return
        _LOGGER.info("command %s from %s (nonce %s)", command.verb, command.issuer, command.nonce)
        if command.verb == evidence.ACK_VERB:
            self._evidence_ack(command)
            return
        if self._on_command is not None:
            self._on_command(command)
