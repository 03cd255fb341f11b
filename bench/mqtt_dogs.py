"""A fleet's telemetry as the broker sees it deployed: one MQTT connection per dog, each with the
dog's own credential over TLS (a fleet directory), or plain loopback without one.

    python -m bench.mqtt_dogs PORT DOGS HZ SECONDS [FLEET_DIR]

Every dog sends `HZ` telemetry documents a second (QoS 1, valid schema, `ts` = when it is sent)
for `SECONDS`, on its own socket: the broker pays a TLS record and an ACL check per message, as
it does for real dogs (bench/mqtt_load.py sends a whole fleet down one plain socket, which
measures the station but spares the broker). Pre-encoded packets, non-blocking sockets: about
15-25 us of CPU per message here. Prints `sent acked unrouted seconds` on stdout at the end:
unrouted = PUBACKs saying "no matching subscribers" (0x10, a success code: the broker
accepted the message and delivered it to nobody, e.g. while the station's session was gone).
"""
from __future__ import annotations

import selectors
import socket
import ssl
import sys
import time
from pathlib import Path

from bench.mqtt_load import BODY
from robot_dog.mqtt import wire


def _connect(port: int, dog: str, ctx: ssl.SSLContext | None, password: str | None) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1") if ctx is not None else raw
    sock.sendall(wire.connect(dog, username=dog if password else None, password=password,
                              keepalive_s=600))
    decoder, replies = wire.Decoder(), []
    while not replies:
        data = sock.recv(4096)
        if not data:
            raise SystemExit(f"{dog}: the broker closed the connection (credentials? ACL?)")
        replies = decoder.feed(data)
    if not (isinstance(replies[0], wire.ConnAck) and replies[0].ok):
        raise SystemExit(f"{dog}: refused: {replies[0]}")
    sock.setblocking(False)
    return sock


def dog_name(i: int) -> str:
    return f"d{i:04d}"


#: PUBACK reason: accepted, but no subscription matched (MQTT 5, 3.4.2.1).
NO_MATCHING_SUBSCRIBERS = 0x10


def run(port: int, dogs: int, hz: float, seconds: float,
        fleet_dir: Path | None = None) -> tuple[int, int, int, float]:
    """(sent, acknowledged, acknowledged as routed to nobody, seconds). With `fleet_dir`: TLS
    with each dog's password."""
    ctx = None
    passwords: list[str | None] = [None] * dogs
    if fleet_dir is not None:
        from robot_dog import fleet as fleet_mod
        fleet = fleet_mod.load_fleet(fleet_dir)
        ctx = ssl.create_default_context(cafile=str(fleet.paths.ca_cert))
        passwords = [fleet.password(dog_name(i)) for i in range(dogs)]
    socks = [_connect(port, dog_name(i), ctx, passwords[i]) for i in range(dogs)]
    decoders = [wire.Decoder() for _ in socks]
    selector = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        selector.register(sock, selectors.EVENT_READ, i)
    topics = [f"patrol/v1/{dog_name(i)}/telemetry" for i in range(dogs)]
    rounds = int(seconds * hz)
    sent = acked = unrouted = 0
    start = time.monotonic()

    def read(timeout: float) -> None:
        nonlocal acked, unrouted
        for key, _ in selector.select(timeout):
            try:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            if not data:
                raise SystemExit(f"{dog_name(key.data)}: the broker closed the connection")
            for packet in decoders[key.data].feed(data):
                if isinstance(packet, wire.PubAck):
                    if packet.reason >= 0x80:   # e.g. not authorised: the broker dropped it
                        raise SystemExit(f"{dog_name(key.data)}: broker refused a message: "
                                         f"{wire.reason_text(packet.reason)}")
                    acked += 1
                    unrouted += packet.reason == NO_MATCHING_SUBSCRIBERS

    for k in range(rounds):
        due = start + k / hz
        while (left := due - time.monotonic()) > 0:
            read(left)
        ts = f"{time.time():.3f}"
        for i, sock in enumerate(socks):
            doc = f'{{"v":1,"dog":"{dog_name(i)}","seq":{k + 1},"ts":{ts},{BODY}}}'
            packet = wire.publish(topics[i], doc.encode(), 1, k % 0xFFFF + 1)
            sock.setblocking(True)   # a full socket buffer waits here: the broker is behind
            sock.sendall(packet)
            sock.setblocking(False)
            sent += 1
        read(0)
    deadline = time.monotonic() + 30
    while acked < sent and time.monotonic() < deadline:
        read(0.1)
    elapsed = time.monotonic() - start
    for sock in socks:
        try:
            sock.setblocking(True)
            sock.sendall(wire.DISCONNECT_BYTES)
            sock.close()
        except OSError:
            pass
    return sent, acked, unrouted, elapsed


if __name__ == "__main__":
    port_, dogs_ = int(sys.argv[1]), int(sys.argv[2])
    hz_, seconds_ = float(sys.argv[3]), float(sys.argv[4])
    fleet_ = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    print(*run(port_, dogs_, hz_, seconds_, fleet_), flush=True)
