"""The station's HTTP server under attack, seen from outside: clients that hold or trickle
connections, video viewers that leave a camera that sends nothing, a wrong-token flood. In
each, the operator's E-STOP (POST /api/dogs/dog1/commands/estop with the right token) must
be signed and published, during and after the attack.

The server runs with its real limits (64 connections, 16 streams, 16 kept for commands and
login, a 10 s request deadline) unless a test says otherwise; attackers are raw sockets and
http.client, as docs/security.md describes them.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import threading
import time

import pytest

from robot_dog.station import web
from robot_dog.station.accounts import Accounts, local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.ingest import Frame
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import OPERATOR, api_token
from tests.fixtures.command_keys import command_keys
from tests.support import wait_for
from tests.test_station_cli import StationProcess

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 256 + b"\xff\xd9"
ESTOP = "/api/dogs/dog1/commands/estop?wait=0"


@pytest.fixture
def station(tmp_path):
    keys = command_keys(tmp_path, "dog1")
    storage = Storage(tmp_path / "s.db")
    published: list[str] = []
    lock = threading.Lock()

    def publish(topic: str, payload: bytes, qos: int) -> int:
        with lock:
            published.append(topic)
        return 0

    relay = FrameRelay()
    relay.publish(Frame("dog1", "bodycam", JPEG, time.time()))  # then the camera goes silent
    server = StationHttp(storage, relay, port=0,
                         dispatcher=Dispatcher(keys.dir, publish, storage)).start()
    # the operator's API token (an admin's: every route); the servers that the tests start on
    # the same database know it too
    server.published, server.token = published, api_token(server.accounts)
    yield server
    server.stop()
    storage.close()


def connect(station) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)


def auth(station) -> dict[str, str]:
    """The operator's headers (X-Operator, the free-form name of old, is ignored)."""
    return {"Authorization": f"Bearer {station.token}", "X-Operator": "alice"}


def estop(station) -> int:
    """The operator's E-STOP; its status (202: signed, audited, published to dog1)."""
    before = station.published.count("patrol/v1/dog1/cmd/estop")
    conn = connect(station)
    try:
        conn.request("POST", ESTOP, body=b"{}", headers={**auth(station),
                                                         "Content-Type": "application/json"})
        reply = conn.getresponse()
        body = json.loads(reply.read())
    finally:
        conn.close()
    if reply.status == 202:
        assert body["status"] == "sent"
        assert station.published.count("patrol/v1/dog1/cmd/estop") == before + 1
    return reply.status


VIEWER = ("vera", "vera's password")


def login_cookie(station) -> str:
    """A viewer's password login (the account made on first use); the session cookie."""
    if station.accounts.tables.account(VIEWER[0]) is None:
        station.accounts.add_account(local_admin("test"), VIEWER[0], "viewer", VIEWER[1])
    return password_login(station.port)


def password_login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/login", body=json.dumps({"name": VIEWER[0], "password": VIEWER[1]}),
                 headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    conn.close()
    assert reply.status == 200
    return reply.headers["Set-Cookie"].split(";", 1)[0]


def open_stream(port: int, cookie: str) -> tuple[socket.socket, int]:
    """What the viewer page's <img> does: GET the MJPEG stream; returns the socket (after the
    first whole frame when 200) and the status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET /video/dog1/bodycam.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"Cookie: {cookie}\r\n\r\n".encode())
    reader = sock.makefile("rb")
    line = reader.readline()
    assert line, "closed without an answer"
    status = int(line.split(b" ", 2)[1])
    while reader.readline() not in (b"\r\n", b""):
        pass  # response headers
    if status == 200:
        part = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            part[name.strip().lower()] = value.strip()
        frame = reader.read(int(part["content-length"]))
        assert frame.startswith(b"\xff\xd8"), "a JPEG frame"
    reader.close()  # the socket stays open
    return sock, status


def streams_available(station, cookie: str, count: int, deadline_s: float = 60.0) -> bool:
    """True once `count` streams are open at the same time (the server frees the slots of
    viewers that left within seconds); all closed again before returning."""
    end, held = time.monotonic() + deadline_s, []
    try:
        while len(held) < count and time.monotonic() < end:
            sock, status = open_stream(station.port, cookie)
            if status == 200:
                held.append(sock)
            else:
                sock.close()
                time.sleep(0.2)
        return len(held) == count
    finally:
        for sock in held:
            sock.close()


def test_viewers_that_leave_a_silent_camera_free_their_slots(station):
    """Each viewer page load opens the dog's stream and leaves; the camera sent one frame and
    then nothing (its dog went offline). Before: each left a thread and a slot behind, and
    after 64 even the E-STOP got RemoteDisconnected."""
    cookie = login_cookie(station)
    for _ in range(100):
        sock, status = open_stream(station.port, cookie)
        sock.close()
        if status != 200:  # the 16-stream cap while the last viewers' slots are being freed
            assert status == 503
    assert estop(station) == 202
    assert streams_available(station, cookie, web.MAX_STREAMS), \
        "every viewer that left gave its stream back"
    assert estop(station) == 202


def test_viewers_that_stay_cannot_take_the_e_stops_slot(station):
    cookie = login_cookie(station)
    held, statuses = [], []
    try:
        for _ in range(100):
            sock, status = open_stream(station.port, cookie)
            held.append(sock)
            statuses.append(status)
        assert statuses.count(200) == web.MAX_STREAMS and statuses.count(503) == 100 - web.MAX_STREAMS
        assert estop(station) == 202
        assert login_cookie(station)
        conn = connect(station)
        conn.request("GET", "/api/fleet", headers={"Cookie": cookie})
        assert conn.getresponse().status == 200, "reads still go through beside the streams"
        conn.close()
    finally:
        for sock in held:
            sock.close()


def test_a_flood_of_logins_and_page_loads_never_queues_the_e_stop_behind_it(station):
    """30 password logins at once (each spends an argon2 hash, one at a time: a second or more
    of work queued) and page loads beside them. On an async server the danger is the worker threads:
    had the logins taken them all, the E-STOP's check would wait its turn. Logins hash on their
    own threads, commands check and sign on theirs: the E-STOP is answered while most logins
    still wait for their hash."""
    login_cookie(station)  # makes the account
    answered: list[int] = []
    lock = threading.Lock()

    def log_in(n: int) -> None:   # unknown names: no account lockout, a hash each
        conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=120)
        try:
            conn.request("POST", "/api/login", body=json.dumps(
                {"name": f"nobody{n}", "password": "wrong, and slow to say so"}),
                headers={"Content-Type": "application/json"})
            status = conn.getresponse().status
        finally:
            conn.close()
        with lock:
            answered.append(status)

    def load_page() -> None:
        conn = connect(station)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        finally:
            conn.close()

    logins = [threading.Thread(target=log_in, args=(n,), daemon=True) for n in range(30)]
    pages = [threading.Thread(target=load_page, daemon=True) for _ in range(12)]
    for thread in logins + pages:
        thread.start()
    wait_for(lambda: len(answered) >= 1, "the first login answered", timeout_s=60)
    assert estop(station) == 202
    with lock:
        done = len(answered)
    for thread in logins + pages:
        thread.join(timeout=120)
    # 20 failures lock the address out (then answers need no hash): the E-STOP came before
    assert done < 20, f"{done} of {len(logins)} logins were answered before the E-STOP"
    assert set(answered) <= {401, 429}, answered


class Slowloris(threading.Thread):
    """`count` connections, each sending one byte of a never-ending request now and then
    (`rate` bytes/s over all of them); a connection the server closes is opened again."""

    def __init__(self, port: int, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.period = port, count, 1.0 / rate
        self.stop, self.reconnects, self.sent = threading.Event(), 0, 0
        self.request = (b"POST /api/dogs/dog1/commands/estop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nX-Padding: " + b"a" * 10_000)

    def _open(self) -> tuple[socket.socket, int]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        return sock, 0

    def run(self) -> None:
        conns = [self._open() for _ in range(self.count)]
        turn = 0
        while not self.stop.wait(self.period):
            sock, at = conns[turn]
            try:
                try:
                    if sock.recv(1) == b"":
                        raise ConnectionResetError("closed by the server")
                except BlockingIOError:
                    pass
                sock.send(self.request[at:at + 1])
                self.sent += 1
                conns[turn] = (sock, at + 1)
            except OSError:
                sock.close()
                self.reconnects += 1
                try:
                    conns[turn] = self._open()
                except OSError:
                    pass
            turn = (turn + 1) % self.count
        for sock, _ in conns:
            sock.close()


def test_slowloris_cannot_keep_the_e_stop_out(station):
    """80 connections trickling 16 B/s in all (each byte well within any per-read timeout).
    Before: the E-STOP failed at t = 4, 8, 12 and 16 s."""
    attack = Slowloris(station.port, 80, rate=16.0)
    attack.start()
    try:
        start = time.monotonic()
        for at in (4.0, 8.0, 12.0, 16.0):
            time.sleep(max(0.0, start + at - time.monotonic()))
            assert estop(station) == 202, f"E-STOP at t = {at:.0f} s"
            assert login_cookie(station)
        assert attack.reconnects >= 80 - web.MAX_CONNECTIONS, \
            "the server closed trickling connections"
    finally:
        attack.stop.set()
        attack.join(timeout=30)
    assert estop(station) == 202


@pytest.mark.parametrize("head", [
    b"GET /api/fleet HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
    b"POST " + ESTOP.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
    b"<token>\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
])
def test_a_request_has_one_deadline_however_its_bytes_trickle(station, monkeypatch, head):
    """A byte every 0.2 s (headers, or a body after complete headers): closed at the request
    deadline, not kept alive by each byte as a per-read timeout would."""
    monkeypatch.setattr(web, "REQUEST_TIMEOUT_S", 2.0)
    server = StationHttp(station.storage, station.relay, port=0,
                         dispatcher=station.dispatcher).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head.replace(b"<token>", station.token.encode()))
            start, closed = time.monotonic(), False
            while time.monotonic() - start < 30.0 and not closed:
                time.sleep(0.2)
                try:
                    sock.sendall(b"a")
                    sock.setblocking(False)
                    closed = sock.recv(4096) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                finally:
                    sock.setblocking(True)
            elapsed = time.monotonic() - start
        assert closed and elapsed >= 2.0 - 0.5, f"closed after {elapsed:.1f} s"
        assert "cmd/estop" not in " ".join(station.published), "a half-sent E-STOP is not sent"
    finally:
        server.stop()


def test_a_stream_nobody_reads_gives_its_slot_back(station, monkeypatch):
    """A viewer that stops reading a live stream: the write deadline ends it."""
    monkeypatch.setattr(web, "WRITE_TIMEOUT_S", 1.0)
    monkeypatch.setattr(web, "MAX_STREAMS", 1)
    server = StationHttp(station.storage, station.relay, port=0).start()
    running = threading.Event()
    running.set()

    def camera() -> None:  # a live camera: big frames, often
        frame = b"\xff\xd8" + random.randbytes(256 * 1024) + b"\xff\xd9"
        while running.is_set():
            station.relay.publish(Frame("dog1", "bodycam", frame, time.time()))
            time.sleep(0.02)

    feeder = threading.Thread(target=camera, daemon=True)
    feeder.start()
    try:
        cookie = login_cookie(server)
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(f"GET /video/dog1/bodycam.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Cookie: {cookie}\r\n\r\n".encode())  # and never reads
        end, status = time.monotonic() + 60.0, 0
        while time.monotonic() < end:
            sock, status = open_stream(server.port, cookie)
            sock.close()
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, "the stalled stream still holds the only stream slot"
        stalled.close()
    finally:
        running.clear()
        feeder.join(timeout=10)
        server.stop()


class WrongTokens(threading.Thread):
    """E-STOPs with a wrong token every `period` s (`token()` gives each one) until `stop`;
    the answers counted by status."""

    def __init__(self, port: int, period: float, token=lambda: "wrong") -> None:
        super().__init__(daemon=True)
        self.port, self.period, self.token = port, period, token
        self.stop, self.statuses = threading.Event(), {}

    def run(self) -> None:
        while not self.stop.wait(self.period):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("POST", ESTOP, body=b"{}", headers={
                    "Authorization": f"Bearer {self.token()}",
                    "Content-Type": "application/json"})
                status = conn.getresponse().status
                self.statuses[status] = self.statuses.get(status, 0) + 1
            except OSError:
                pass
            finally:
                conn.close()


def test_a_wrong_token_flood_never_blocks_the_right_tokens_e_stop(station):
    """One attacker polls with a wrong token every 0.25 s, another sends new guesses as fast
    as it can, all from 127.0.0.1 like the operator. Before: 3 of 50 E-STOPs accepted. Each
    wrong token is answered 401 at once (a hash lookup: 256-bit tokens are not guessed)."""
    attackers = [WrongTokens(station.port, 0.25),
                 WrongTokens(station.port, 0.01, lambda: random.randbytes(8).hex())]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(1.5)  # both floods under way
        accepted = 0
        for _ in range(50):
            accepted += estop(station) == 202
            time.sleep(0.1)
    finally:
        for thread in attackers:
            thread.stop.set()
            thread.join(timeout=30)
    assert accepted == 50
    refused = {status: sum(a.statuses.get(status, 0) for a in attackers)
               for status in {s for a in attackers for s in a.statuses}}
    assert refused[401] > 5 and set(refused) == {401}, refused


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_station_process_keeps_the_e_stop_through_every_attack_at_once(tmp_path,
                                                                            secure_broker):
    """`robot-dog station --fleet` against the fleet's TLS Mosquitto; dog1's camera sent one
    frame and went silent. 100 viewer page loads, then a slowloris of 80 connections and a
    wrong-token flood together: the E-STOPs at t = 4, 8, 12, 16 s are accepted and arrive,
    signed, at the dog (dog1's own credential reads its commands; no station role does)."""
    fleet = secure_broker.fleet
    token = api_token(tmp_path / "s.db")   # a person's API token (the account OPERATOR)
    (tmp_path / "frame.jpg").write_bytes(JPEG)
    tables = AccountTables(tmp_path / "s.db")  # a viewer for the page loads
    Accounts(tables).add_account(local_admin("test"), VIEWER[0], "viewer", VIEWER[1])
    tables.close()
    station = StationProcess("--fleet", str(fleet.root), "--http-port", "0",
                             "--db", str(tmp_path / "s.db"))
    watcher = None
    try:
        line = station.wait_for_line("viewer:  http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1].strip("/ "))
        headers = {"Authorization": f"Bearer {token}", "X-Operator": "alice"}

        def camera_at_station() -> list[str]:  # QoS 0: sent again until the station has it
            subprocess.run(["mosquitto_pub", *secure_broker.cli_args("dog1"), "-t",
                            "patrol/v1/dog1/video/bodycam", "-f", str(tmp_path / "frame.jpg")],
                           check=True, timeout=30)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/fleet", headers=headers)
            dogs = json.loads(conn.getresponse().read())["dogs"]
            conn.close()
            return [c for d in dogs for c in d["cameras"]]

        wait_for(camera_at_station, "dog1's frame at the station", timeout_s=60, interval_s=1.0)
        # From here on dog1's camera is silent, and dog1's credential only listens (the broker
        # binds a session to its user: one connection as dog1 at a time).
        watcher = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-d",
                                    *secure_broker.cli_args("dog1"),
                                    "-F", "%t %x", "-t", "patrol/v1/dog1/cmd/estop"],
                                   stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: [lines.append(out.strip()) for out in watcher.stdout],
                         daemon=True).start()
        wait_for(lambda: any("SUBACK" in out for out in lines), "dog1 subscribed", timeout_s=60)

        def process_estop() -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", ESTOP, body=b"{}", headers={
                **headers, "Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            return status

        cookie = password_login(port)
        for _ in range(100):
            sock, status = open_stream(port, cookie)
            sock.close()
            assert status in (200, 503)
        assert process_estop() == 202

        attacks = [Slowloris(port, 80, rate=16.0), WrongTokens(port, 0.25)]
        for attack in attacks:
            attack.start()
        try:
            start, accepted = time.monotonic(), 0
            for at in (4.0, 8.0, 12.0, 16.0):
                time.sleep(max(0.0, start + at - time.monotonic()))
                accepted += process_estop() == 202
        finally:
            for attack in attacks:
                attack.stop.set()
                attack.join(timeout=30)
        assert accepted == 4

        def arrived() -> list[dict]:
            return [json.loads(bytes.fromhex(out.split()[1])) for out in lines
                    if out.startswith("patrol/v1/dog1/cmd/estop ")]

        wait_for(lambda: len(arrived()) >= 5, "5 E-STOPs at dog1", timeout_s=60)
        estops = arrived()
        assert len(estops) == 5
        # the API token's account, never the X-Operator name
        assert {(e["dog"], e["verb"], e["issuer"]) for e in estops} == {("dog1", "estop",
                                                                          OPERATOR)}
        assert all(e.get("sig") for e in estops)
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(timeout=30)
        assert station.stop() == 0, station.output()[-3000:]
    assert "Traceback" not in station.output()


def test_a_viewer_refused_by_the_stream_cap_gets_its_video_once_a_stream_is_free(
        station, monkeypatch, browser_page):
    """The real page in Chromium, dog1's camera live: the page's stream is refused (503) while
    another viewer holds the only stream; once that one leaves, the page shows the video
    without a reload."""
    import cv2
    import numpy as np

    monkeypatch.setattr(web, "MAX_STREAMS", 1)
    server = StationHttp(station.storage, station.relay, port=0).start()
    ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))
    assert ok
    running = threading.Event()
    running.set()

    def camera() -> None:  # Chromium shows a part of the stream once the next one begins
        while running.is_set():
            station.relay.publish(Frame("dog1", "bodycam", jpeg.tobytes(), time.time()))
            time.sleep(0.1)

    feeder = threading.Thread(target=camera, daemon=True)
    feeder.start()
    try:
        holder, status = open_stream(server.port, login_cookie(server))
        assert status == 200
        page = browser_page
        page.goto(f"http://127.0.0.1:{server.port}/viewer")  # the plain viewer's MJPEG streams
        page.fill("#name", VIEWER[0])  # the viewer account login_cookie made
        page.fill("#password", VIEWER[1])
        page.click("#login-button")
        image = "section.dog[data-dog=dog1] img.video"
        page.wait_for_selector("section.dog[data-dog=dog1] .status", timeout=30_000)
        assert page.eval_on_selector(image, "img => img.naturalWidth") == 0, \
            "the only stream is taken: no video yet"
        holder.close()
        page.wait_for_function(f"() => document.querySelector('{image}')?.naturalWidth === 64",
                               timeout=60_000)
    finally:
        running.clear()
        feeder.join(timeout=10)
        server.stop()
