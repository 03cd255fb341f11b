"""The session cookie's Secure attribute follows TLS: on when the station serves HTTPS itself
(--tls-cert/--tls-key), on when TLS ends at a proxy in front (--behind-tls), off on plain HTTP.
The real StationHttp, a certificate signed by a real fleet CA, a verifying HTTPS client."""
from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robot_dog import fleet as fleet_mod
from robot_dog.fleet.ca import sign_server_cert
from robot_dog.station.accounts import Accounts, local_admin
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.web import StationHttp
from tests.test_station_accounts import Clock, cheap_argon2  # noqa: F401  (autouse fixture)

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(certificate, key, CA certificate): the station's, signed by a fresh fleet's CA."""
    root = tmp_path_factory.mktemp("tls")
    fleet = fleet_mod.init_fleet(root / "fleet", ["dog1"])
    key_pem, cert_pem = sign_server_cert(fleet.paths, "robot-dog station", ["127.0.0.1"], 1,
                                         dt.datetime.now(dt.timezone.utc))
    (root / "station.key").write_bytes(key_pem)
    (root / "station.crt").write_bytes(cert_pem)
    return root / "station.crt", root / "station.key", fleet.paths.ca_cert


def _station(tmp_path: Path, **options):
    storage = Storage(tmp_path / "station.db")
    accounts = Accounts(AccountTables(tmp_path / "station.db"), clock=Clock(time.time()))
    accounts.add_account(local_admin("test"), "otto", "operator", PASSWORD)
    server = StationHttp(storage, FrameRelay(), port=0, accounts=accounts, **options).start()
    return server, storage, accounts


def _login(conn: http.client.HTTPConnection) -> tuple[int, str]:
    try:
        conn.request("POST", "/api/login", body=json.dumps({"name": "otto", "password": PASSWORD}),
                     headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        return reply.status, reply.headers.get("Set-Cookie", "")
    finally:
        conn.close()


@pytest.mark.parametrize("behind_tls", [False, True])
def test_plain_http_cookie_is_secure_only_behind_tls(tmp_path, behind_tls):
    server, storage, accounts = _station(tmp_path, secure_cookies=behind_tls)
    try:
        status, cookie = _login(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30))
        assert server.url.startswith("http://")
    finally:
        server.stop()
        storage.close()
        accounts.tables.close()
    attributes = [a.strip() for a in cookie.split(";")]
    assert status == 200
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes)
    assert ("Secure" in attributes) is behind_tls


def test_https_station_sets_a_secure_cookie(tmp_path, certificate):
    cert, key, ca = certificate
    server, storage, accounts = _station(tmp_path, tls=(cert, key))
    try:
        assert server.url == f"https://127.0.0.1:{server.port}/"
        trusted = ssl.create_default_context(cafile=str(ca))   # verifies name and chain
        status, cookie = _login(http.client.HTTPSConnection("127.0.0.1", server.port,
                                                            timeout=30, context=trusted))
        with pytest.raises((http.client.HTTPException, OSError)):  # no plain HTTP on it
            _login(http.client.HTTPConnection("127.0.0.1", server.port, timeout=30))
    finally:
        server.stop()
        storage.close()
        accounts.tables.close()
    attributes = [a.strip() for a in cookie.split(";")]
    assert status == 200
    assert {"HttpOnly", "SameSite=Strict", "Secure"} <= set(attributes)


def _station_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot_dog.cli", "station", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_refuses_a_half_or_broken_tls_pair(tmp_path, certificate):
    cert, key, _ = certificate
    half = _station_cli("--tls-cert", str(cert), "--http-port", "0", "--duration", "0")
    assert half.returncode == 2 and "--tls-cert and --tls-key go together" in half.stderr
    broken = _station_cli("--tls-cert", str(cert), "--tls-key", str(cert), "--http-port", "0",
                          "--duration", "0")
    assert broken.returncode == 2 and "--tls-cert/--tls-key" in broken.stderr
