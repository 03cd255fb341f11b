"""`robot-dog teleop cert`: the page certificate from the fleet CA, checked by OpenSSL; an unknown
dog or a missing fleet is a clear error, not a traceback."""
from __future__ import annotations

import pytest

import subprocess

from robot_dog import fleet
from robot_dog.teleop.cli import main
from tests.support import free_port


@pytest.mark.slow
def test_cert_for_the_dogs_local_link(tmp_path, capsys):
    root = tmp_path / "fleet"
    fleet.init_fleet(root, ["dog1"], broker=fleet.BrokerSettings(port=free_port()))
    assert main(["cert", str(root), "--dog", "dog1", "--name", "192.168.8.1"]) == 0
    crt, key = root / "dogs" / "dog1" / "teleop.crt", root / "dogs" / "dog1" / "teleop.key"
    assert str(crt) in capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600
    ca = fleet.load_fleet(root).paths.ca_cert
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca), "-purpose", "sslserver",
                             str(crt)], capture_output=True, text=True)
    assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stderr
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True).stdout
    assert "IP Address:192.168.8.1" in text and "IP Address:127.0.0.1" in text


@pytest.mark.slow
def test_unknown_dog_and_missing_fleet_are_clear_errors(tmp_path, capsys):
    root = tmp_path / "fleet"
    fleet.init_fleet(root, ["dog1"], broker=fleet.BrokerSettings(port=free_port()))
    assert main(["cert", str(root), "--dog", "dog9"]) == 1
    assert "no dog 'dog9'" in capsys.readouterr().err
    assert main(["cert", str(tmp_path / "nowhere"), "--dog", "dog1"]) == 1
    assert "robot-dog teleop cert:" in capsys.readouterr().err
