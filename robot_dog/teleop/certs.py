"""The handheld page's HTTPS certificate, issued by the fleet CA (robot_dog.fleet).

`dogs/<dog>/teleop.crt` + `teleop.key` (0600) with the addresses the officer's phone uses on the
dog's local link as subject alternative names; server authentication only. A phone that trusts
the fleet CA sees a valid page; the CA key never leaves the fleet directory.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from robot_dog import fleet

TELEOP_DAYS = 825


def _names(values: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for value in dict.fromkeys(values):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            out.append(x509.DNSName(value))
    return out


def issue_teleop_cert(fleet_dir: str | Path, dog: str,
                      names: Sequence[str] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """Issue (or renew) `dog`'s handheld-page certificate; returns (cert, key) paths."""
    registry = fleet.load_fleet(fleet_dir)
    paths = registry.paths
    if dog not in registry.dogs:
        raise fleet.FleetError(f"no dog {dog!r} in the fleet at {fleet_dir}")
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "robot-dog fleet"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, f"{dog} handheld page")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=TELEOP_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(_names(names)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = paths.dog_dir(dog) / "teleop.crt", paths.dog_dir(dog) / "teleop.key"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
