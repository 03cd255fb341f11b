"""The operator's E-STOP through the station's HTTP server, quiet and under attack.

An in-process station HTTP server with its real limits and a real command key (publishing into
a list: the figures are the HTTP server's, not the broker's). `SAMPLES` E-STOPs (POST
.../commands/estop?wait=0, 202 each) timed from connect to the whole answer: first with
nothing else going on, then while 80 slowloris connections trickle 16 B/s in all, 16 viewers
hold streams of a camera that sends nothing, and a wrong token is tried every 0.25 s. Then the
time until a viewer that left a silent camera gives its stream back (the stream cap set to 1:
close the stream, then retry a new one every 10 ms until it is served).

    ROBOT_DOG_BENCH_HTTP_SAMPLES=50 ./dev.sh bench station_http_attack
"""
from __future__ import annotations

import http.client
import os
import tempfile
import time
from pathlib import Path

from bench.stats import NoSamples, summary
from robot_dog.station import web
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp
from tests.fixtures.command_keys import command_keys
from tests.fixtures.accounts import api_token
from tests.test_station_web_attacks import (ESTOP, JPEG, Slowloris, WrongTokens, auth,
                                            login_cookie, open_stream)

SAMPLES = int(os.environ.get("ROBOT_DOG_BENCH_HTTP_SAMPLES", "50"))
LEAVES = 10


def _station(root: Path) -> StationHttp:
    keys = command_keys(root, "dog1")
    storage = Storage(root / "s.db")
    relay = FrameRelay()
    relay.publish(Frame("dog1", "bodycam", JPEG, time.time()))  # then silent
    server = StationHttp(storage, relay, port=0,
                         dispatcher=Dispatcher(keys.dir, lambda topic, payload, qos: 0, storage)).start()
    server.token = api_token(server.accounts)   # the operator's (tests/test_station_web_attacks.py)
    return server


def _estop_ms(station: StationHttp) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    try:
        conn.request("POST", ESTOP, body=b"{}", headers={**auth(station),
                                                         "Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    if reply.status != 202:
        raise NoSamples(f"the E-STOP got {reply.status}, not 202")
    return (time.perf_counter() - start) * 1000.0


def _estops(station: StationHttp) -> list[float]:
    samples = []
    for _ in range(SAMPLES):
        samples.append(_estop_ms(station))
        time.sleep(0.05)
    return samples


def _stream_freed_ms(root: Path) -> list[float]:
    streams = web.MAX_STREAMS
    web.MAX_STREAMS = 1
    try:
        station = _station(root)
    finally:
        web.MAX_STREAMS = streams
    try:
        cookie, samples = login_cookie(station), []
        for _ in range(LEAVES):
            sock, status = open_stream(station.port, cookie)
            if status != 200:
                raise NoSamples(f"the first stream got {status}")
            sock.close()
            start = time.perf_counter()
            while True:
                sock, status = open_stream(station.port, cookie)
                if status == 200:
                    samples.append((time.perf_counter() - start) * 1000.0)
                    sock.close()
                    break
                sock.close()
                time.sleep(0.01)
            time.sleep(1.5)  # that one's slot is noticed too before the next round
        return samples
    finally:
        station.stop()
        station.storage.close()


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a").mkdir()
        station = _station(root / "a")
        figures: dict[str, object] = {"samples": SAMPLES}
        try:
            figures.update(summary(_estops(station), "estop_quiet", "ms", "quiet E-STOPs"))
            cookie = login_cookie(station)
            viewers = [open_stream(station.port, cookie)[0] for _ in range(web.MAX_STREAMS)]
            attack, guesser = Slowloris(station.port, 80, rate=16.0), WrongTokens(station.port, 0.25)
            attack.start()
            guesser.start()
            time.sleep(2.0)  # the slowloris holds every free connection by now
            try:
                figures.update(summary(_estops(station), "estop_attacked", "ms",
                                       "E-STOPs under attack"))
            finally:
                attack.stop.set()
                guesser.stop.set()
                attack.join(timeout=30)
                guesser.join(timeout=30)
                for sock in viewers:
                    sock.close()
            figures["slowloris_reconnects"] = attack.reconnects
        finally:
            station.stop()
            station.storage.close()
        (root / "b").mkdir()
        figures.update(summary(_stream_freed_ms(root / "b"), "viewer_left_stream_freed", "ms",
                               "streams given back"))
        return figures


if __name__ == "__main__":
    print(run())
