"""`robot-dog station`: MQTT ingest -> storage + video relay + commands, served over HTTP.

One MQTT session (robot_dog.mqtt.batch_link.BatchLink: TLS and a station user's credentials
when a fleet directory is given, as the demo does; plain loopback otherwise, for local
debugging). With `shared_group`, the storage subscriptions (telemetry, events, command
results) are MQTT 5 shared subscriptions `$share/{group}/...`, so several workers split the
load against one broker and one PostgreSQL; status and video stay plain subscriptions in
every worker (retained status is not delivered on shared subscriptions, and each worker
relays video to its own viewers).
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from robot_dog import fleet as fleet_mod
from robot_dog.cli import stopping
from robot_dog.audio import opus
from robot_dog.log_rate import worth_a_line
from robot_dog.mqtt import client, evidence, signing, topics, wire
from robot_dog.mqtt.batch_link import BatchLink
from robot_dog.mqtt.topics import Kind
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.evidence_intake import Ack, EvidenceIntake, EvidenceRefused
from robot_dog.station.evidence_intake import SECURITY_REASONS as EVIDENCE_SECURITY_REASONS
from robot_dog.station import ingest as ingest_mod
from robot_dog.station.ingest import SECURITY_REASONS, Ingest, MessageRejected
from robot_dog.station.ingest_limits import IngestLimiter, ShedNotices, lane, shed_notice
from robot_dog.station.object_store import DirectoryStore
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import (DeadLetterRow, EventRow, RegisteredDog, ResultRow, Row,
                                       StatusRow, Storage)
from robot_dog.station.talk import TalkRelay
from robot_dog.station.accounts import AccountError, Accounts
from robot_dog.station.accounts.access import adopt_operator_token
from robot_dog.station.accounts.legacy import legacy_token_notice
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.storage.incident_tables import IncidentTables
from robot_dog.station.incident_service import INTAKE_TYPES, IncidentService
from robot_dog.station.web import StationHttp

_LOGGER = logging.getLogger(__name__)
#: Security events (a dog's credential misused): one logger an operator can route apart.
_SECURITY = logging.getLogger("robot_dog.security")


@dataclass(frozen=True)
class StationConfig:
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883
    db: str | Path = Path("var/station.db")      # SQLite path or postgresql:// URL
    http_port: int = 8080
    client_id: str = ""                            # default: station-<host>-<pid> (unique per worker)
    fleet_dir: Path | None = None                  # TLS, credentials, command keys, registry
    user: str | None = None                        # station user in the fleet (default: the first)
    operator_token: str | None = None              # an old fleet's token, given explicitly
    shared_group: str | None = None
    video: bool = True                             # False: storage-only worker
    evidence_dir: Path = Path("var/station_evidence")  # the object store of uploaded evidence
    evidence_keys_dir: Path | None = None          # <dog>.pub; default: the fleet's station/evidence_keys
    tls: tuple[Path, Path] | None = None           # (certificate chain, key): serve HTTPS
    behind_tls: bool = False                       # TLS ends at a proxy in front: Secure cookies


#: Persistent station session: telemetry/events published while the station reconnects (e.g.
#: after a broker restart, when the dogs may be back first) are queued by the broker, not lost.
SESSION_EXPIRY_S = 3600
#: Evidence messages waiting for the intake thread (chunks of 256 KiB: 16 MiB at most).
EVIDENCE_QUEUE = 64
#: How often the station checks in with each online dog, s (the dog's deadline is 2 s).
CHECKIN_PERIOD_S = 0.5


def _endpoint(cfg: StationConfig) -> tuple[client.Endpoint, fleet_mod.Fleet | None]:
    worker = f"-{socket.gethostname()[:20]}-{os.getpid()}" if cfg.shared_group else ""
    if cfg.fleet_dir is None:
        return client.Endpoint(cfg.broker_host, cfg.broker_port, "station", "",
                               cfg.client_id or f"station{worker}",
                               session_expiry_s=SESSION_EXPIRY_S), None
    fleet = fleet_mod.load_fleet(cfg.fleet_dir)
    user = cfg.user or (fleet.users[0] if fleet.users else None)
    if user is None:
        raise fleet_mod.FleetError(f"{cfg.fleet_dir}: no station user; `robot-dog fleet add-user`")
    # Stable id (one session per user and worker group) so the session survives our restarts;
    # each worker of a shared group needs its own station user (the fleet's broker binds every
    # session to its user name: use_username_as_clientid).
    client_id = cfg.client_id or f"station-{user}{worker}"
    return client.Endpoint(cfg.broker_host, cfg.broker_port, user, fleet.password(user), client_id,
                           ca_file=fleet.paths.station_ca_cert(),
                           session_expiry_s=SESSION_EXPIRY_S), fleet


def _result_keys(fleet: fleet_mod.Fleet | None) -> Callable[[str], Ed25519PublicKey | None]:
    """dog -> its result public key from the fleet directory (loaded once found; a dog added
    later is found without a restart). None without one: that dog's results are refused, as
    every result is at a station without a fleet (which has no keys to command with either)."""
    keys: dict[str, Ed25519PublicKey] = {}

    def key(dog: str) -> Ed25519PublicKey | None:
        if dog not in keys and fleet is not None:
            path = fleet.paths.result_public_key(dog)
            if path.exists():
                keys[dog] = signing.load_verify_key(path)
        return keys.get(dog)
    return key


def _evidence_keys(fleet: fleet_mod.Fleet | None,
                   keys_dir: Path | None) -> Callable[[str], Ed25519PublicKey | None]:
    """dog -> its evidence public key (the fleet's copy, kept after the dog is removed)."""
    keys: dict[str, Ed25519PublicKey] = {}

    def key(dog: str) -> Ed25519PublicKey | None:
        if dog not in keys:
            path = (keys_dir / f"{topics.check_dog(dog)}.pub" if keys_dir is not None else
                    fleet.paths.evidence_public_key(dog) if fleet is not None else None)
            if path is not None and path.exists():
                keys[dog] = signing.load_verify_key(path)
        return keys.get(dog)
    return key


class Station:
    def __init__(self, config: StationConfig) -> None:
        self.config = config
        endpoint, fleet = _endpoint(config)  # a bad fleet fails here, before a database exists
        self.storage = Storage(config.db)
        self.relay = FrameRelay()
        self.ingest = Ingest(result_key=_result_keys(fleet))
        self.limiter = IngestLimiter()
        self._shed_notices = ShedNotices()
        self.evidence_store = DirectoryStore(config.evidence_dir)
        evidence_key = _evidence_keys(fleet, config.evidence_keys_dir)
        self.intake = EvidenceIntake(self.evidence_store, evidence_key)
        self._evidence_pem = lambda dog: (signing.public_pem(key) if (key := evidence_key(dog))
                                          else None)
        self.received: Counter[str] = Counter()
        self._cameras_seen: set[tuple[str, str]] = set()  # (dog, camera): "first frame" logged
        self.user = endpoint.username
        self.link = BatchLink(endpoint, on_batch=self._on_batch, on_connected=self._on_connected,
                              reconnect_s=(1.0, 10.0))
        if fleet is not None:
            for dog in fleet.dogs:
                self.storage.put(RegisteredDog(dog))
            role = fleet.roles.get(self.user, fleet_mod.DEFAULT_ROLE)
            if role != "listener":  # the broker decides (ACL); say so once instead of silence
                _LOGGER.info("station user %s has the role %s: %s", self.user, role,
                             "no listen-in, no commands" if role == "viewer" else "no listen-in")
        self.talk = TalkRelay(lambda t, p, q, e: self.link.publish(t, p, q, expiry_s=e),
                              lambda: int(time.time() * 1000))
        self.dispatcher = Dispatcher(
            fleet.paths.root / "station" / "command_keys" if fleet else None,
            lambda t, p, q: self.link.publish(t, p, q), self.storage,
            args_for=self.talk.command_args)
        self.accounts = Accounts(AccountTables(config.db))
        if config.operator_token:  # given on purpose (--operator-token-file): as migrate does
            try:  # refused: said why, and the station runs without it
                adopt_operator_token(self.accounts, config.operator_token)
            except AccountError as exc:
                _LOGGER.error("the shared operator token is not accepted: %s", exc)
        self.legacy_token = (legacy_token_notice(self.accounts, fleet.paths.operator_token, config.db)
                             if fleet is not None else None)
        if self.legacy_token:
            _LOGGER.warning("%s", self.legacy_token)
        # Incidents (station/incident_routes.py): dispatches go through the same command path;
        # a station without a fleet has no keys to command with (`commands_disabled`).
        self.incidents = IncidentService(IncidentTables(config.db), self.accounts,
                                         dispatcher=self.dispatcher if fleet else None,
                                         storage=self.storage)
        self.http = StationHttp(self.storage, self.relay, port=config.http_port,
                                dispatcher=self.dispatcher, accounts=self.accounts,
                                talk=self.talk, evidence=(self.evidence_store, self._evidence_pem),
                                incidents=self.incidents, tls=config.tls,
                                secure_cookies=config.behind_tls,
                                # a worker of a shared group hears only its share of each dog's
                                # telemetry, and each would raise its own alarm: none of them does
                                link_alarms=not config.shared_group)
        share = f"$share/{config.shared_group}/" if config.shared_group else ""
        for kind in (Kind.TELEMETRY, Kind.EVENTS, Kind.RESULT, Kind.EVIDENCE):
            self.link.keep_subscribed(share + topics.all_dogs(kind), qos=1)
        self.link.keep_subscribed(topics.all_dogs(Kind.STATUS), qos=1)
        if config.video:
            self.link.keep_subscribed(topics.all_dogs(Kind.VIDEO), qos=0)
            self.link.keep_subscribed(topics.all_dogs(Kind.AUDIO), qos=0)  # listen-in (talk.py)
        self.connected = threading.Event()
        # Dogs online now: the station supervises each (signed check-ins; docs/safety.md).
        self._online: set[str] = set()
        self._stopping = threading.Event()
        self._checkins = threading.Thread(target=self._check_in_loop, name="station-checkins",
                                          daemon=True)
        # Uploaded evidence waits here for its thread (about 4 s of a capped upload); the MQTT
        # message is acknowledged at once: what a crash loses, the dog sends again.
        self._evidence_in: queue.Queue[tuple[str, bytes, float] | None] = queue.Queue(EVIDENCE_QUEUE)
        self._evidence_thread = threading.Thread(target=self._evidence_loop,
                                                 name="station-evidence", daemon=True)

    def start(self) -> Station:
        self.http.start()
        self._evidence_thread.start()
        self.link.start()
        self._checkins.start()
        return self

    def _check_in_loop(self) -> None:
        """Every CHECKIN_PERIOD_S a signed check-in to each online dog whose key we hold. When
        the station dies or its link drops, the check-ins stop: the dog holds autonomous motion."""
        while not self._stopping.wait(CHECKIN_PERIOD_S):
            for dog in sorted(self._online):
                try:
                    self.dispatcher.check_in(dog, self.user)
                except Exception as exc:  # noqa: BLE001 (no key, link down: the dog sees a lapse)
                    _LOGGER.debug("check-in to %s not sent: %s", dog, exc)

    def leave_group(self, quiet_s: float = 1.0, timeout_s: float = 30.0) -> bool:
        """Leave the shared group for good (a worker being retired, not restarted): unsubscribe
        the shared filters so the broker routes new messages to the other workers, take what
        the broker had already queued for us until it stays quiet for `quiet_s`, and commit
        and acknowledge all of it. True if that finished: then stop(end_session=True) loses
        nothing. False: keep the session (a restarted worker still gets what it holds)."""
        if not self.config.shared_group:
            return False
        share = f"$share/{self.config.shared_group}/"
        for kind in (Kind.TELEMETRY, Kind.EVENTS, Kind.RESULT, Kind.EVIDENCE):
            if not self.link.unsubscribe(share + topics.all_dogs(kind)):
                _LOGGER.warning("leaving group %s: no UNSUBACK; keeping the session",
                                self.config.shared_group)
                return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # Quiet before and after the flush: nothing arrived while it was being committed.
            if (self._quiet(quiet_s) and self.storage.flush(max(0.0, deadline - time.monotonic()))
                    and self._quiet(quiet_s)):
                _LOGGER.info("left group %s: everything received is committed",
                             self.config.shared_group)
                return True
            time.sleep(0.1)
        _LOGGER.warning("leaving group %s: still receiving after %.0f s; keeping the session",
                        self.config.shared_group, timeout_s)
        return False

    def _quiet(self, seconds: float) -> bool:
        return time.monotonic() - self.link.last_message_at >= seconds

    def stop(self, *, end_session: bool = False) -> None:
        self._stopping.set()
        self.link.stop(end_session=end_session)
        self._evidence_in.put(None)
        self._evidence_thread.join(30)
        self.http.stop()
        self.storage.flush()
        self.storage.close()
        self.accounts.tables.close()
        self.incidents.store.close()

    def _on_connected(self) -> None:
        self.connected.set()
        _LOGGER.info("station connected to %s:%d as %s", self.config.broker_host,
                     self.config.broker_port, self.user)

    def _on_batch(self, messages: list[wire.Publish], ack: Callable[[], None]) -> None:
        """A read's worth of messages: store them, then ack them once their rows are committed
        (a station that dies before the commit gets them again from its persistent session)."""
        now, mono = time.time(), time.monotonic()
        for m in messages:
            if self._admitted(m, now, mono):
                self._on_message(m.topic, m.payload, now)
        self.storage.after_commit(ack)

    def _admitted(self, m: wire.Publish, now: float, mono: float) -> bool:
        """The bounds on what one dog can make the station do: its per-kind rate (excess
        dropped, counted, logged once per kind) and no retained message but its status."""
        try:
            t = ingest_mod.parse_topic(m.topic)
        except topics.TopicError:
            return True  # dead-lettered as bad_topic by _on_message
        # An event's severity picks its bucket: a flood of ordinary events never sheds an
        # e-stop (ingest_limits.lane).
        key = lane(t.kind, ingest_mod.event_severity(m.payload) if t.kind is Kind.EVENTS else None)
        if not self.limiter.admit(t.dog, key, mono):
            n = self.limiter.dropped[str(key)]
            rate = self.limiter.limits[key]
            if worth_a_line(n):
                _LOGGER.warning("ingest limit: %s sent %s faster than %g/s (burst %g): dropped "
                                "(#%d of this kind)", t.dog, key, rate.per_s, rate.burst, n)
            if t.kind is Kind.EVENTS and self._shed_notices.due(t.dog, key, mono):
                self._store(EventRow(t.dog, now, shed_notice(t.dog, now, key, rate)))
            return False
        if m.retain and t.kind is not Kind.STATUS:
            self._dead_letter(m.topic, m.payload, "retained_outside_status", "only status may "
                              "be retained", now)
            return False
        return True

    def _on_message(self, topic: str, payload: bytes, now: float) -> None:
        """Store one message, or dead-letter it: either way it is acknowledged with its batch,
        so a message that can never be stored is not redelivered forever."""
        kind = _kind_of(topic)
        if kind is Kind.AUDIO:  # live only, never stored
            self._on_audio(topic, payload, now)
            return
        if topic.count("/") == 4 and topic.split("/")[3] == "evidence":
            try:  # hashed and written on its own thread: never in the way of video and telemetry
                self._evidence_in.put_nowait((topic, payload, now))
            except queue.Full:  # lost here; the dog sends what is not acknowledged again
                self._dead_letter(topic, payload, "evidence_busy", "intake queue full", now)
            return
        try:
            rows, frame = self.ingest.handle(topic, payload, now)
        except MessageRejected as exc:
            self._dead_letter(topic, payload, exc.code, str(exc), now)
            return
        except Exception as exc:  # noqa: BLE001  (a bug must not poison the batch or the session)
            self._dead_letter(topic, payload, "internal", f"{type(exc).__name__}: {exc}", now,
                              traceback=True)
            return
        self.received[str(kind)] += 1
        for row in rows:
            self._store(row)
            if isinstance(row, ResultRow):
                self.dispatcher.on_result(row.doc, row.dog)
            elif isinstance(row, EventRow) and row.doc["type"] in INTAKE_TYPES:
                self._on_incident_event(row)
            elif isinstance(row, StatusRow):
                (self._online.add if row.status == "online" else self._online.discard)(row.dog)
                _LOGGER.info("dog %s %s", row.dog, "connected" if row.status == "online"
                             else f"is {row.status}")
        if frame is not None:
            if (frame.dog, frame.camera) not in self._cameras_seen:
                self._cameras_seen.add((frame.dog, frame.camera))
                _LOGGER.info("first frame from %s/%s (%d bytes)", frame.dog, frame.camera,
                             len(frame.jpeg))
            self.relay.publish(frame)

    def _store(self, row: Row) -> None:
        self.storage.put(row)
        self.http.row(row)   # pushed to the live pages

    def _on_incident_event(self, row: EventRow) -> None:
        """A goal ending, an e-stop or an officer's answer: into the incident it belongs to.
        Before the batch is acknowledged (a crash redelivers it; the timeline keeps each event
        once); an incident the database cannot take now is logged, the event stays stored."""
        try:
            self.incidents.on_event(row.dog, row.doc)
        except Exception:
            _LOGGER.exception("incident intake failed on event %s of %s", row.doc.get("id"), row.dog)

    def _evidence_loop(self) -> None:
        while (item := self._evidence_in.get()) is not None:
            try:
                self._on_evidence(*item)
            except Exception:
                _LOGGER.exception("evidence intake failed on %s", item[0][:120])

    def _on_evidence(self, topic: str, payload: bytes, now: float) -> None:
        """An uploaded manifest or chunk: verified into the object store; its rows stored; the
        signed `evidence_ack` sent once they are committed (only then may the dog release)."""
        try:
            t = topics.parse(topic)
            outcome = self.intake.handle(t.dog, str(t.sub), payload, now)
        except topics.TopicError as exc:
            self._dead_letter(topic, payload, "bad_topic", str(exc), now)
            return
        except EvidenceRefused as exc:
            self._dead_letter(topic, payload, exc.reason, str(exc), now)
            if exc.ack is not None:
                self._ack_evidence(exc.ack)
            return
        except OSError as exc:  # the object store failed: the dog sends it again later
            self._dead_letter(topic, payload, "evidence_store", str(exc), now, traceback=True)
            return
        self.received["evidence"] += 1
        for row in outcome.rows:
            self.storage.put(row)
        if outcome.ack is not None:
            ack = outcome.ack
            self.storage.after_commit(lambda: self._ack_evidence(ack))

    def _ack_evidence(self, ack: Ack) -> None:
        try:
            self.dispatcher.send(ack.dog, evidence.ACK_VERB,
                                 evidence.ack_args(ack.recording, list(ack.items)), self.user)
        except Exception as exc:  # noqa: BLE001  (no key, link down: the dog sends it again)
            _LOGGER.warning("evidence_ack to %s for %s not sent: %s", ack.dog, ack.recording, exc)

    def _on_audio(self, topic: str, payload: bytes, now: float) -> None:
        try:
            t = topics.parse(topic)
            if t.sub != "mic":
                raise opus.OpusError(f"no relay for audio source {t.sub!r}")
            self.talk.on_mic(t.dog, payload)
        except (topics.TopicError, opus.OpusError) as exc:
            self._dead_letter(topic, payload, "bad_audio", str(exc), now)
            return
        self.received["audio"] += 1

    def _dead_letter(self, topic: str, payload: bytes, reason: str, detail: str, now: float, *,
                     traceback: bool = False) -> None:
        n = self.ingest.rejected[reason] = self.ingest.rejected[reason] + 1
        self.storage.put(DeadLetterRow(topic, len(payload), reason, now, detail))
        if not worth_a_line(n):
            return  # logged once per kind, then as the counter grows: never a flood
        _LOGGER.warning("dead letter #%d of kind %s (%d bytes on %s): %s", n, reason,
                        len(payload), topic[:120], detail[:200], exc_info=traceback and n == 1)
        if reason == "bad_status":  # a dog's own credential wrote junk into its retained status
            _SECURITY.warning("security event #%d: %s carried %r, not online/offline: that "
                              "dog's credential is misused or faulty", n, topic[:120], payload[:40])
        elif reason in SECURITY_REASONS or reason in EVIDENCE_SECURITY_REASONS:  # e.g. a result forged with a station credential
            _SECURITY.warning("security event #%d of kind %s on %s: %s (dropped)", n, reason,
                              topic[:120], detail[:200])

    def summary(self) -> dict[str, Any]:
        self.storage.flush()
        return {"received": dict(self.received), "rejected": dict(self.ingest.rejected),
                "over_rate": dict(self.limiter.dropped), "stored": self.storage.counts()}


def run(config: StationConfig, duration_s: float | None = None, *,
        leave_on_exit: bool = False,
        on_started: Callable[[Station], None] | None = None) -> dict[str, Any]:
    """Run until Ctrl-C, SIGTERM or `duration_s`; return the summary. `leave_on_exit`: a
    shared-group worker leaves the group for good on the way out (Station.leave_group).
    `on_started`: called once the viewer listens (the CLI prints its address there)."""
    stopping.install()  # a service manager's SIGTERM takes the Ctrl-C path
    station = Station(config).start()
    try:
        if on_started is not None:
            on_started(station)
        if duration_s is None:
            while True:
                time.sleep(3600)
        time.sleep(duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        left = leave_on_exit and station.leave_group()
        summary = station.summary()
        station.stop(end_session=left)
    return summary



def _kind_of(topic: str) -> Kind | None:
    """The topic's kind by the one parser of the tree; None outside it (ingest refuses it)."""
    try:
        return topics.parse(topic).kind
    except topics.TopicError:
        return None
