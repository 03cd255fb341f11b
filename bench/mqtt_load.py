"""Telemetry load generator for the ingest benchmark: `DOGS` simulated dogs, QoS 1, MQTT 5.

    python -m bench.mqtt_load PORT DOGS SAMPLES [HZ]

Without HZ as fast as the broker takes them; with HZ every dog sends HZ samples per second
(1,000 dogs at 10 Hz = 10,000 msg/s, the soak load).

Pre-encodes PUBLISH packets with robot_dog.mqtt.wire and writes them over one socket, keeping
as many unacknowledged as the broker's Receive Maximum allows. A paho publisher spends a whole
core on 10,000 msg/s and starves broker and subscriber on a 2-core machine; this one needs
about a quarter of a core, so the benchmark measures the receiving side. Every document is a
valid telemetry payload (the station validates it); `seq` counts samples per dog.
"""
from __future__ import annotations

import socket
import sys
import time

from robot_dog.mqtt import wire

BODY = ('"pose":{"frame":"odom","x":12.5,"y":-3.25,"z":0.0,"yaw":1.2},'
        '"velocity":{"vx":0.5,"vy":0.0,"wz":0.1},'
        '"battery":{"percentage":0.81,"voltage_v":25.2,"current_a":3.1,"charging":false},'
        '"safety":{"estop":false,"estop_reason":""},'
        '"link":{"connected":true,"backlog_bytes":0,"backlog_messages":0,"dropped":0},'
        '"age_s":{"pose":0.05,"velocity":0.05,"battery":0.4}')


def packets(dogs: int, samples: int):
    packet_id = 0
    for seq in range(1, samples + 1):
        ts = f"{time.time():.3f}"
        for d in range(dogs):
            dog = f"d{d:04d}"
            packet_id = packet_id % 0xFFFF + 1
            doc = f'{{"v":1,"dog":"{dog}","seq":{seq},"ts":{ts},{BODY}}}'
            yield wire.publish(f"patrol/v1/{dog}/telemetry", doc.encode(), 1, packet_id)


def run(port: int, dogs: int, samples: int, hz: float | None = None) -> float:
    """Publish everything (paced at `hz` samples per dog per second if given), wait for the last
    PUBACK; return the seconds it took."""
    total = dogs * samples
    decoder = wire.Decoder()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(wire.connect("bench-load", keepalive_s=60))
        replies: list[wire.Packet] = []
        while not replies:
            replies = decoder.feed(sock.recv(4096))
        connack = replies[0]
        assert isinstance(connack, wire.ConnAck) and connack.ok, connack
        window = connack.receive_maximum
        start = time.monotonic()
        source = packets(dogs, samples)
        sent = acked = 0
        while acked < total:
            n = min(window - (sent - acked), total - sent)
            if hz:  # never ahead of the schedule: sample k of every dog is due at start + k / hz
                due = min(total, int((time.monotonic() - start) * hz + 1) * dogs)
                n = min(n, due - sent)
                if n <= 0 and sent == acked:  # nothing due, nothing to wait for: tick
                    time.sleep(0.005)
                    continue
            if n > 0:
                sock.sendall(b"".join(next(source) for _ in range(n)))
                sent += n
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the broker closed the connection")
            for p in decoder.feed(data):
                if isinstance(p, wire.PubAck):
                    if p.reason >= 0x80:
                        raise SystemExit(f"broker refused a message: {wire.reason_text(p.reason)}")
                    acked += 1
        sock.sendall(wire.DISCONNECT_BYTES)
        return time.monotonic() - start


if __name__ == "__main__":
    port_, dogs_, samples_ = map(int, sys.argv[1:4])
    seconds = run(port_, dogs_, samples_, float(sys.argv[4]) if len(sys.argv) > 4 else None)
    print(f"published {dogs_ * samples_} messages in {seconds:.2f} s", file=sys.stderr)
