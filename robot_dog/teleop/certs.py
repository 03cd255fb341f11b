"""The handheld page's HTTPS certificate, issued by the fleet CA (robot_dog.fleet).

`dogs/<dog>/teleop.crt` + `teleop.key` (0600) with the addresses the officer's phone uses on the
dog's local link as subject alternative names; server authentication only. A phone that trusts
the fleet CA sees a valid page; the CA key never leaves the fleet directory.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from robot_dog import fleet
from robot_dog.fleet.ca import sign_server_cert

TELEOP_DAYS = 825


def issue_teleop_cert(fleet_dir: str | Path, dog: str,
                      names: Sequence[str] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """Issue (or renew) `dog`'s handheld-page certificate; returns (cert, key) paths."""
    registry = fleet.load_fleet(fleet_dir)
    paths = registry.paths
    if dog not in registry.dogs:
        raise fleet.FleetError(f"no dog {dog!r} in the fleet at {fleet_dir}")
    key_pem, cert_pem = sign_server_cert(paths, f"{dog} handheld page", names, TELEOP_DAYS,
                                         dt.datetime.now(dt.timezone.utc))
    cert_path, key_path = paths.dog_dir(dog) / "teleop.crt", paths.dog_dir(dog) / "teleop.key"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return cert_path, key_path


def page_names(cert_file: str | Path) -> list[str]:
    """The DNS names and addresses the page's certificate is valid for (its subject alternative
    names): the server answers to exactly these (and loopback) as Host."""
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]
