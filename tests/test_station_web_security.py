"""The station's HTTP API as an attacker meets it, with real clients (curl, http.client, raw
sockets): bad lengths, chunked and non-JSON bodies, deep JSON, junk query numbers, idle and
half-sent requests, too many connections, token guessing, foreign Host names (DNS rebinding),
reads without a login, odd methods. Every refusal is a JSON 4xx/5xx with a log line, never a
traceback, and nothing is signed or sent.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import subprocess

import pytest

from robot_dog.station import web
from robot_dog.station.accounts import access as accounts_access, local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import api_token



@pytest.fixture
def station(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "REQUEST_TIMEOUT_S", 1.0)
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(web, "MAX_STREAMS", 1)
    monkeypatch.setattr(web, "RESERVED_CONNECTIONS", 2)
    monkeypatch.setattr(web, "MAX_SOCKETS", 1)
    storage = Storage(tmp_path / "s.db")
    sent: list[str] = []
    dispatcher = Dispatcher(None, lambda topic, payload, qos: sent.append(topic) or 0, storage)
    server = StationHttp(storage, FrameRelay(), port=0, dispatcher=dispatcher).start()
    server.sent, server.token = sent, api_token(server.accounts)
    # X-Operator, the free-form name of old, goes with it: ignored
    server.auth = {"Authorization": f"Bearer {server.token}", "X-Operator": "alice"}
    yield server
    server.stop()
    storage.close()
    assert sent == [], "nothing may ever be published by these requests"


def request(station, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, reply.headers, reply.read()  # names case-insensitive
    finally:
        conn.close()


COMMAND = "/api/dogs/dog1/commands/police_light"


@pytest.mark.parametrize("headers,body,status,says", [
    ({"Content-Length": "-1"}, b"{}", 400, "bad request"),      # refused by the HTTP parser
    ({"Content-Length": "abc"}, b"{}", 400, "bad request"),
    ({"Content-Length": "99999999"}, b"{}", 413, "body over 4096"),
    ({"Transfer-Encoding": "chunked"}, b"2\r\n{}\r\n0\r\n\r\n", 411, "chunked bodies"),
    ({"Content-Type": "text/plain"}, b'{"pattern":"flash"}', 415, "application/json"),
    ({"Content-Type": "application/json"}, b"[" * 1000 + b"]" * 1000, 400, "nested deeper"),
    ({"Content-Type": "application/json"}, b'{"a":1,"a":2}', 400, "duplicate key"),
    ({"Content-Type": "application/json"}, b"[1]", 400, "JSON object"),
])
def test_bad_bodies_are_refused_before_anything_is_signed(station, caplog, headers, body,
                                                          status, says):
    conn = http.client.HTTPConnection("127.0.0.1", station.port, timeout=30)
    conn.putrequest("POST", COMMAND)
    for name, value in {**station.auth, **headers}.items():
        conn.putheader(name, value)
    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body)
    reply = conn.getresponse()
    text = reply.read().decode()
    conn.close()
    assert reply.status == status and says in json.loads(text)["error"], text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("query", ["limit=nan", "limit=inf", "limit=-inf", "limit=abc"])
def test_junk_numbers_in_queries_are_400(station, query):
    status, _, body = request(station, "GET", f"/api/dogs/dog1/events?{query}", headers=station.auth)
    assert status == 400 and "limit" in json.loads(body)["error"]


def test_idle_and_half_sent_requests_are_closed(station):
    for sent in (b"", b"GET /api/fleet HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                 b"POST " + COMMAND.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                 b"Bearer " + station.token.encode() + b"\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"pat"):
        with socket.create_connection(("127.0.0.1", station.port), timeout=30) as sock:
            sock.sendall(sent)
            data = b""
            while chunk := sock.recv(4096):  # the server closes after its 1 s request timeout
                data += chunk
            assert b"Traceback" not in data


def test_a_connection_beyond_the_bound_takes_the_place_of_the_oldest_unfinished_one(station):
    idle = [socket.create_connection(("127.0.0.1", station.port), timeout=30) for _ in range(4)]
    try:
        for sock in idle[1:]:
            sock.sendall(b"GET /api/fleet HTTP/1.1\r\n")  # prove each is being served
        status = request(station, "GET", "/api/fleet", headers=station.auth)[0]
        assert status == 200, "the fifth connection is served"
        assert idle[0].recv(100) == b"", "the oldest unfinished request was closed for it"
    finally:
        for sock in idle:
            sock.close()


def test_wrong_tokens_are_refused_audited_within_a_bound_and_never_lock_the_right_one(station):
    wrong = {**station.auth, "Authorization": "Bearer guess"}
    for _ in range(accounts_access.REFUSED_TOKENS_PER_MIN + 5):
        status, _, body = request(station, "GET", "/api/fleet", headers=wrong)
        assert status == 401 and json.loads(body)["code"] == "not_authenticated"
    refused = station.accounts.tables.audit(100, kind="token_refused")
    assert len(refused) == accounts_access.REFUSED_TOKENS_PER_MIN  # a flood fills no disk
    assert "guess" not in json.dumps(refused)
    assert request(station, "GET", "/api/fleet", headers=station.auth)[0] == 200, \
        "the right token, from the same address, is never locked out"


def test_reads_need_a_login_and_the_cookie_sends_commands_only_with_its_csrf_token(station):
    for path in ("/api/fleet", "/api/dogs/dog1/telemetry", "/api/dogs/dog1/events",
                 "/api/dogs/dog1/commands", "/video/dog1/bodycam.jpg", "/video/dog1/bodycam.mjpeg"):
        assert request(station, "GET", path)[0] == 401, path
    assert request(station, "GET", "/")[0] == 200, "the page (a login form) is public"
    station.accounts.add_account(local_admin("test"), "otto", "operator", "otto's password")
    status, headers, body = request(station, "POST", "/api/login", json.dumps(
        {"name": "otto", "password": "otto's password"}).encode(),
        {"Content-Type": "application/json"})
    cookie = headers["Set-Cookie"]
    assert status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";", 1)[0]}
    csrf = {"X-CSRF-Token": json.loads(body)["csrf"]}
    assert request(station, "GET", "/api/fleet", headers=jar)[0] == 200
    assert request(station, "POST", COMMAND, b"{}", {**jar, "Content-Type": "application/json"}
                   )[0] == 403, "a cookie alone (another site's form) sends nothing"
    assert request(station, "POST", "/api/logout", headers=jar)[0] == 403
    assert request(station, "POST", "/api/logout", headers={**jar, **csrf})[0] == 200
    assert request(station, "GET", "/api/fleet", headers=jar)[0] == 401
    assert request(station, "GET", "/api/fleet", headers={"Cookie": "robot_dog_session=forged"}
                   )[0] == 401


@pytest.mark.slow
def test_foreign_host_names_are_refused(station):
    port = station.port
    for host in (f"evil.example:{port}", "attacker.test", f"127.0.0.1.nip.io:{port}"):
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-H", f"Host: {host}", "-H",
                              f"Authorization: Bearer {station.token}",
                              f"http://127.0.0.1:{port}/api/fleet"],
                             capture_output=True, text=True, timeout=30)
        body, _, code = out.stdout.rpartition("\n")
        assert code == "403" and "unknown Host" in json.loads(body)["error"], out.stdout
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert request(station, "GET", "/api/fleet", headers={**station.auth, "Host": host})[0] == 200


@pytest.mark.slow
def test_odd_methods_get_json_errors_and_safe_headers(station, caplog):
    with caplog.at_level(logging.INFO, logger="robot_dog.station.web"):
        for method, status in (("PUT", 405), ("DELETE", 405), ("BREW", 405), ("TRACE", 405)):
            out = subprocess.run(["curl", "-sS", "-i", "-X", method,
                                  f"http://127.0.0.1:{station.port}/api/fleet"],
                                 capture_output=True, text=True, timeout=30)
            head, _, body = out.stdout.partition("\n\n")  # text mode: \r\n read as \n
            assert head.startswith(f"HTTP/1.1 {status}"), head
            assert "x-content-type-options: nosniff" in head.lower()  # names: any case
            assert "\nserver: robot-dog-station\n" in head.lower() and "python" not in head.lower()
            assert "error" in json.loads(body)
    assert "BREW" in caplog.text and "TRACE" in caplog.text
    for path in ("/", "/api/fleet"):
        _, headers, _ = request(station, "GET", path, headers=station.auth)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Server"] == "robot-dog-station"
