"""The fleet CA and the certificates it signs: the broker's (server auth) and each dog's (client auth)."""
from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from robot_dog.fleet.files import _write_public, _write_secret
from robot_dog.fleet.layout import BrokerSettings, FleetPaths

CA_DAYS = 3650
SERVER_DAYS = 825
CLIENT_DAYS = 825


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "robot-dog fleet"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _create_ca(paths: FleetPaths, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("robot-dog fleet CA")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_secret(paths.ca_key, _key_pem(key))
    _write_public(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _alt_names(values: Iterable[str]) -> list[x509.GeneralName]:
    """Subject alternative names, deduplicated in order: IP literals as addresses, the rest as DNS."""
    names: list[x509.GeneralName] = []
    for value in dict.fromkeys(values):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    return names


def sign_server_cert(paths: FleetPaths, cn: str, names: Iterable[str], days: int,
                     now: dt.datetime) -> tuple[bytes, bytes]:
    """A fresh key and a server-auth certificate for `names`, signed by the fleet CA.

    Returns (key PEM, certificate PEM); the caller decides where and how they are written.
    Shared by the broker's certificate and the handheld page's (robot_dog.teleop.certs).
    """
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _create_server_cert(paths: FleetPaths, broker: BrokerSettings, now: dt.datetime) -> None:
    key_pem, cert_pem = sign_server_cert(
        paths, "robot-dog broker", ("localhost", "127.0.0.1", broker.host, *broker.extra_names),
        SERVER_DAYS, now)
    _write_secret(paths.server_key, key_pem)
    _write_public(paths.server_cert, cert_pem)


def _create_client_cert(paths: FleetPaths, dog: str, now: dt.datetime) -> None:
    """dogs/<dog>/client.crt + client.key (0600): CN = dog id, client authentication only."""
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(dog))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CLIENT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_secret(paths.dog_client_key(dog), _key_pem(key))
    _write_public(paths.dog_client_cert(dog), cert.public_bytes(serialization.Encoding.PEM))
