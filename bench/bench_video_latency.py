"""Video capture-to-station latency: the uplink's send path vs raw paho with the same JPEG bytes.

Frames (the bodycam test scene, 640x480 and 1280x720, 15 fps) are sent by 1 or 4 dogs through
`UplinkSession.send_frame` (QoS 0, expiry 2 s, link meter) and, in the same run, by bare paho
clients publishing the same bytes; the station's ingest + relay receive them. Each frame carries
its capture time in a JPEG comment segment; latency = relay publish time - capture time (one
process, one clock; Mosquitto on loopback in between).

    ROBOT_DOG_BENCH_VIDEO_S=5 ./dev.sh bench video_latency
"""
from __future__ import annotations

import os
import statistics
import struct
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from robot_dog.bodycam.scene import Overlay, TestScene, encode_jpeg
from robot_dog.mqtt.broker import MosquittoBroker
from robot_dog.mqtt import topics
from robot_dog.station.app import Station, StationConfig
from robot_dog.uplink.session import UplinkConfig, UplinkSession
from tests.support import free_port

OVERLAY = Overlay("BENCH-0001", "bench")
SECONDS = float(os.environ.get("ROBOT_DOG_BENCH_VIDEO_S", "5"))
FPS = 15.0


def stamped(jpeg: bytes, t: float) -> bytes:
    comment = struct.pack(">d", t)
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]


def stamp_of(jpeg: bytes) -> float:
    return struct.unpack(">d", jpeg[6:14])[0]


class RawDog:
    def __init__(self, dog: str, port: int) -> None:
        self.dog = dog
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{dog}", protocol=mqtt.MQTTv5)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def send_frame(self, camera: str, jpeg: bytes) -> None:
        self.c.publish(topics.video(self.dog, camera), jpeg, qos=0)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _measure(station: Station, senders: list, jpeg: bytes) -> list[float]:
    latencies: list[float] = []
    original = station.relay.publish

    def relay(frame):  # wrapped: the moment the station hands the frame to viewers
        latencies.append(time.time() - stamp_of(frame.jpeg))
        original(frame)
    station.relay.publish = relay
    try:
        t_next = time.monotonic()
        end = t_next + SECONDS
        while t_next < end:
            for sender in senders:
                sender.send_frame("bodycam", stamped(jpeg, time.time()))
            t_next += 1.0 / FPS
            time.sleep(max(0.0, t_next - time.monotonic()))
        time.sleep(0.5)
    finally:
        station.relay.publish = original
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 2 else float("nan")


def run() -> dict[str, object]:
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(free_port(), work / "broker") as broker:
            station = Station(StationConfig("127.0.0.1", broker.port, work / "st.db", 0)).start()
            station.connected.wait(20)
            time.sleep(0.5)
            for width, height in ((640, 480), (1280, 720)):
                jpeg = encode_jpeg(TestScene(width, height).render(time.time(), OVERLAY), 80)
                for n in (1, 4):
                    dogs = [UplinkSession(UplinkConfig(f"bdog{i}", port=broker.port,
                                                       state_dir=work / "state")).start() for i in range(n)]
                    for d in dogs:
                        while not d.connected:
                            time.sleep(0.05)
                    ours = _measure(station, dogs, jpeg)
                    for d in dogs:
                        d.stop()
                    raws = [RawDog(f"rdog{i}", broker.port) for i in range(n)]
                    time.sleep(0.3)
                    raw = _measure(station, raws, jpeg)
                    for r in raws:
                        r.stop()
                    key = f"{height}p_{n}dog"
                    out[f"{key}_jpeg_kb"] = round(len(jpeg) / 1024, 1)
                    out[f"{key}_uplink_p50_ms"] = round(_pct(ours, 50), 2)
                    out[f"{key}_uplink_p95_ms"] = round(_pct(ours, 95), 2)
                    out[f"{key}_raw_p50_ms"] = round(_pct(raw, 50), 2)
                    out[f"{key}_raw_p95_ms"] = round(_pct(raw, 95), 2)
                    out[f"{key}_p95_ratio"] = round(_pct(ours, 95) / _pct(raw, 95), 2)
                    out[f"{key}_frames"] = f"{len(ours)}/{len(raw)}"
                    if n > 1:  # what more dogs cost: the n-dog p95 against the 1-dog p95 of this run
                        one = f"{height}p_1dog_uplink_p95_ms"
                        out[f"{height}p_{n}dog_vs_1dog_uplink_p95_ratio"] = round(
                            out[f"{key}_uplink_p95_ms"] / out[one], 2)
            station.stop()
    return out
