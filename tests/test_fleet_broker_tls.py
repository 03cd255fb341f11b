"""The broker's TLS offers only AEAD suites: a real Mosquitto from the fleet's config and
`openssl s_client` as the outside client. SHA-1 CBC suites (which OpenSSL still enables by
default under TLS 1.2) must fail the handshake; ECDHE with AES-GCM or ChaCha20 under TLS 1.2,
and TLS 1.3, must get in."""
from __future__ import annotations

import shutil
import subprocess

import pytest


OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


def handshake(broker, *args: str) -> subprocess.CompletedProcess:
    """One TLS handshake with the broker (no MQTT): rc 0 and a `Cipher is` line if it worked."""
    return subprocess.run([OPENSSL, "s_client", "-connect", f"{broker.host}:{broker.port}",
                           "-CAfile", str(broker.ca_file), "-verify_return_error", *args],
                          input=b"", capture_output=True, timeout=30)


def negotiated(result: subprocess.CompletedProcess) -> str:
    for line in result.stdout.decode(errors="replace").splitlines():
        if "Cipher is" in line:
            return line.rsplit(" ", 1)[-1]
    return ""


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                                   "ECDHE-ECDSA-AES128-SHA256", "AES128-SHA"])
def test_cbc_suites_are_refused_under_tls12(secure_broker, suite):
    result = handshake(secure_broker, "-tls1_2", "-cipher", suite)
    assert result.returncode != 0, f"{suite} was accepted: {negotiated(result)}"
    assert negotiated(result) in ("", "(NONE)")


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_aead_suites_work_under_tls12(secure_broker, suite):
    result = handshake(secure_broker, "-tls1_2", "-cipher", suite)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert negotiated(result) == suite


def test_tls13_works_and_old_versions_do_not(secure_broker):
    result = handshake(secure_broker, "-tls1_3")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert negotiated(result).startswith("TLS_")
    assert handshake(secure_broker, "-tls1_1").returncode != 0


def test_every_listener_carries_the_suite_list(make_secure_broker):
    broker = make_secure_broker(certs=True)
    conf = broker.fleet.paths.mosquitto_conf.read_text()
    assert conf.count("ciphers ECDHE-") == 2 and conf.count("ciphers_tls1.3 ") == 2
    assert "SHA:" not in conf.split("ciphers ", 1)[1].split("\n", 1)[0] + ":"
