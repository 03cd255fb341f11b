"""`robot-dog station`: MQTT ingest -> storage + video relay, served to the viewer over HTTP."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from robot_dog.station.ingest import Ingest, Rejected
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp

_LOGGER = logging.getLogger(__name__)
SUBSCRIPTIONS = [("patrol/v1/+/status", 1), ("patrol/v1/+/telemetry", 1), ("patrol/v1/+/video/+", 0)]


@dataclass(frozen=True)
class StationConfig:
    broker_host: str = "127.0.0.1"
    broker_port: int = 1883
    db_path: Path = Path("var/station.db")
    http_port: int = 8080
    client_id: str = "station"


class Station:
    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self.storage = Storage(config.db_path)
        self.relay = FrameRelay()
        self.ingest = Ingest()
        self.received: Counter[str] = Counter()
        self.connected = threading.Event()
        self.stopping = False
        self.http = StationHttp(self.storage, self.relay, port=config.http_port)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self._unreachable_logged = 0.0
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)

    def start(self) -> "Station":
        self.http.start()
        self.client.connect_async(self.config.broker_host, self.config.broker_port, keepalive=10)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        self.http.stop()
        self.storage.flush()
        self.storage.close()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            _LOGGER.error("broker refused the station: %s", reason)
            return
        client.subscribe(SUBSCRIPTIONS)
        self.connected.set()
        _LOGGER.info("station connected to mqtt://%s:%d", self.config.broker_host,
                     self.config.broker_port)

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        now = time.monotonic()
        if now - self._unreachable_logged > 30:  # one line per 30 s while the broker is away
            self._unreachable_logged = now
            _LOGGER.warning("cannot reach the broker at %s:%d; retrying", self.config.broker_host,
                            self.config.broker_port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self.stopping:
            _LOGGER.warning("station lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            rows, frame = self.ingest.handle(msg.topic, msg.payload, time.time())
        except Rejected as exc:
            self.ingest.rejected[exc.reason] += 1
            # One line per reason and topic family is enough to diagnose; do not flood the log.
            if self.ingest.rejected[exc.reason] in (1, 10, 100, 1000):
                _LOGGER.warning("rejected %s (%d so far): %s", msg.topic[:120],
                                self.ingest.rejected[exc.reason], exc)
            return
        self.received[msg.topic.split("/")[3]] += 1
        for row in rows:
            self.storage.put(row)
        if frame is not None:
            self.relay.publish(frame)

    def summary(self) -> dict[str, Any]:
        self.storage.flush()
        return {"received": dict(self.received), "rejected": dict(self.ingest.rejected),
                "stored": self.storage.counts()}


def run(config: StationConfig, duration_s: float | None = None) -> dict[str, Any]:
    """Run until Ctrl-C or `duration_s`; return the summary."""
    station = Station(config).start()
    try:
        if duration_s is None:
            while True:
                time.sleep(3600)
        time.sleep(duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        summary = station.summary()
        station.stop()
    return summary
