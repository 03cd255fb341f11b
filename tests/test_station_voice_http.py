"""POST /api/dogs/{dog}/audio/voice as an outsider with raw sockets: one body framing only (no
chunked body, no second Content-Length: a proxy and this server must never disagree on where
a request ends), voice only from the operator who opened the dog's talk window, and posts for
invented dogs refused before anything is allocated."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from robot_dog.station.accounts import local_admin
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.talk import TalkRelay
from robot_dog.station.web import StationHttp
from tests.test_audio_opus import tone

PCM = tone(800.0, 0.1).astype(np.int16).tobytes()  # 9,600 bytes


@pytest.fixture
def station(tmp_path):
    storage = Storage(tmp_path / "s.db")
    sent: list[tuple[str, bytes]] = []
    talk = TalkRelay(lambda t, p, q, e: sent.append((t, p)), lambda: 0)
    # A dispatcher is what enables the authorised routes; nothing here signs a command.
    from robot_dog.station.dispatch import Dispatcher
    dispatcher = Dispatcher(None, lambda t, p, q: 0, storage)
    server = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher, talk=talk).start()
    admin = local_admin("test")
    server.tokens = {}
    for name in ("alice", "bob"):  # two operators, each with an API token
        server.accounts.add_account(admin, name, "operator", f"{name}'s password")
        server.tokens[name] = server.accounts.create_token(admin, "voice", name).secret
    talk.command_args("dog1", "talk", {"seconds": 30}, "alice")  # alice's window on dog1
    server.sent = sent
    yield server
    server.stop()
    storage.close()


def raw(station, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send exactly these bytes; return (status, response body)."""
    with socket.create_connection(("127.0.0.1", station.port), timeout=30) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    return int(head_bytes.split()[1]), rest


def post(station, dog: str, operator: str, extra: str) -> str:
    return (f"POST /api/dogs/{dog}/audio/voice HTTP/1.1\nHost: 127.0.0.1\n"
            f"Authorization: Bearer {station.tokens[operator]}\n"
            f"Content-Type: application/octet-stream\nConnection: close\n{extra}")


def test_the_windows_operator_gets_through(station):
    status, _ = raw(station, post(station, "dog1", "alice", f"Content-Length: {len(PCM)}\n"), PCM)
    assert status == 200 and len(station.sent) > 0


# Refused on the headers alone: the body is not sent (a server that closes with unread bytes
# resets the connection, which can cost the client the answer).
@pytest.mark.parametrize("extra,status,says", [
    ("Transfer-Encoding: chunked\n", 411, b"chunked"),
    (f"Transfer-Encoding: chunked\nContent-Length: {len(PCM)}\n", 411, b"chunked"),
    # Two different lengths: refused by the HTTP parser (h11). Two equal ones are read as one
    # (RFC 9110 section 8.6): no two readers can disagree on where that request ends.
    (f"Content-Length: 2\nContent-Length: {len(PCM)}\n", 400, b"bad request"),
    ("", 411, b"Content-Length is required"),
])
def test_one_framing_only(station, extra, status, says):
    got, text = raw(station, post(station, "dog1", "alice", extra))
    assert got == status and says in text
    assert station.sent == [], "nothing may be sent for an ambiguous request"


def test_voice_needs_the_window_and_its_opener(station):
    status, text = raw(station, post(station, "dog1", "bob", f"Content-Length: {len(PCM)}\n"), PCM)
    assert status == 409 and b"not_your_talk_window" in text
    windows = dict(station.talk._windows)
    for i in range(200):  # invented dog names: refused, nothing grows
        status, text = raw(station, post(station, f"ghost{i}", "alice", f"Content-Length: {len(PCM)}\n"), PCM)
        assert status == 409 and b"no_talk_window" in text
    assert station.talk._windows == windows and station.talk._mics == {}
    assert station.sent == []
