"""Fleet registry on disk: CA, broker TLS/password/ACL config, per-dog credentials and command keys.

Everything is generated into one output directory and nowhere else. Layout (secrets 0600,
their directories 0700):

    fleet.json                       registry: dogs, station users, broker address (no secrets)
    ca/ca.crt  ca/ca.key             the fleet CA (the key signs broker certificates only)
    broker/server.crt server.key     TLS for 127.0.0.1/localhost (+ --host names)
    broker/passwd                    mosquitto_passwd hashes of every dog and station user
    broker/acl                       dog: own tree, never own commands; station: read all, write cmd
    broker/mosquitto.conf            TLS listener (plain listener only if asked, loopback); on
                                     every listener the client id is the user name; with a
                                     cert_port, a second TLS listener for client certificates
    dogs/<dog>/                      copy to the dog: ca.crt, password, command.pub (and with
                                     `--cert` client.crt, client.key: CN = dog id, by the CA)
    station/ca.crt                   for station clients
    station/users/<user>.password    one broker credential per station user
    station/command_keys/<dog>.key   Ed25519 private key that signs <dog>'s commands; never leaves
    station/operator.token           bearer token of the station's command API (HTTP)

Why per-dog command keys: a dog that is captured reveals only its own public key and password;
the station's keys sign for one dog each, so one leaked key does not command the fleet.

Why `use_username_as_clientid`: Mosquitto otherwise lets any authenticated client take any
client id, and a new connection with an id in use disconnects the holder (session takeover):
a captured dog could keep the station off the broker. With it, the broker replaces the client
id with the user name, so a credential can only ever take over its own session. Consequence:
one live connection per user; every station worker needs its own station user (`add-user`).

Client certificates (optional, dogs only): the fleet CA issues a certificate per dog (CN = dog
id, client auth only). The certificate listener (`cert_port`) requires one
(`require_certificate`) and takes the user name from its CN (`use_identity_as_username`), so
such a dog connects without a password and is held to the same ACL. Revoking a certificate
means removing the dog from the ACL (there is no CRL); certificates expire after CLIENT_DAYS.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from robot_dog.mqtt import signing, topics

_LOGGER = logging.getLogger(__name__)

REGISTRY_VERSION = 1
#: Station user names double as command `issuer`: same alphabet as the command schema.
USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
CA_DAYS = 3650
SERVER_DAYS = 825
CLIENT_DAYS = 825


class FleetError(Exception):
    """The fleet directory cannot be created or changed as asked."""


@dataclass(frozen=True)
class BrokerSettings:
    host: str = "127.0.0.1"          # listener bind address; also in the server certificate
    port: int = 8883                  # TLS listener
    plain_port: int | None = None     # plain listener on host, off unless asked (debugging)
    cert_port: int | None = None      # TLS listener for client certificates (no password), off unless asked
    run_as: str | None = None         # mosquitto `user`: who may read the 0600 files
    extra_names: tuple[str, ...] = ()  # more DNS names / IPs for the server certificate
    # Connections per listener, whatever their state (also TCP connections that never start
    # TLS or never log in): a flood takes these slots, never the broker's file descriptors.
    max_connections: int = 1000


@dataclass(frozen=True)
class FleetPaths:
    root: Path

    @property
    def registry(self) -> Path: return self.root / "fleet.json"
    @property
    def ca_cert(self) -> Path: return self.root / "ca" / "ca.crt"
    @property
    def ca_key(self) -> Path: return self.root / "ca" / "ca.key"
    @property
    def server_cert(self) -> Path: return self.root / "broker" / "server.crt"
    @property
    def server_key(self) -> Path: return self.root / "broker" / "server.key"
    @property
    def passwd(self) -> Path: return self.root / "broker" / "passwd"
    @property
    def acl(self) -> Path: return self.root / "broker" / "acl"
    @property
    def mosquitto_conf(self) -> Path: return self.root / "broker" / "mosquitto.conf"
    @property
    def broker_data(self) -> Path: return self.root / "broker" / "data"

    def dog_dir(self, dog: str) -> Path: return self.root / "dogs" / topics.check_dog(dog)
    def dog_password(self, dog: str) -> Path: return self.dog_dir(dog) / "password"
    def dog_ca_cert(self, dog: str) -> Path: return self.dog_dir(dog) / "ca.crt"
    def dog_public_key(self, dog: str) -> Path: return self.dog_dir(dog) / "command.pub"
    def dog_client_cert(self, dog: str) -> Path: return self.dog_dir(dog) / "client.crt"
    def dog_client_key(self, dog: str) -> Path: return self.dog_dir(dog) / "client.key"
    def station_ca_cert(self) -> Path: return self.root / "station" / "ca.crt"
    @property
    def operator_token(self) -> Path: return self.root / "station" / "operator.token"
    def user_password(self, user: str) -> Path:
        return self.root / "station" / "users" / f"{check_user(user)}.password"
    def command_key(self, dog: str) -> Path:
        return self.root / "station" / "command_keys" / f"{topics.check_dog(dog)}.key"


@dataclass
class Fleet:
    """The registry (fleet.json) plus where its files are."""
    root: Path
    broker: BrokerSettings
    dogs: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    @property
    def paths(self) -> FleetPaths:
        return FleetPaths(self.root)

    def password(self, name: str) -> str:
        """Broker password of a dog or station user (read from its own secret file)."""
        path = self.paths.dog_password(name) if name in self.dogs else self.paths.user_password(name)
        return path.read_text().strip()


def check_user(user: str) -> str:
    if not isinstance(user, str) or not USER_NAME.fullmatch(user):
        raise FleetError(f"invalid station user name {user!r}: must match {USER_NAME.pattern}")
    return user


# --- pure text generators ------------------------------------------------------------------------
def acl_text(dogs: Iterable[str], users: Iterable[str]) -> str:
    """Mosquitto ACL. Allow-lists only (Mosquitto has no deny that would beat a wildcard allow):
    a dog may write each of its own leaf topics except cmd/{verb}, and read its own cmd/#.
    """
    lines = ["# Generated by `robot-dog fleet`; regenerate rather than edit.",
             "# No rule for anonymous clients: allow_anonymous is false.", ""]
    for dog in dogs:
        t = topics.base(dog)
        lines += [f"user {dog}",
                  f"topic write {t}/status", f"topic write {t}/telemetry", f"topic write {t}/events",
                  f"topic write {t}/video/+", f"topic write {t}/audio/+",
                  f"topic write {t}/cmd/{topics.RESULT}",
                  f"topic read {t}/cmd/#", ""]
    for user in users:
        lines += [f"user {check_user(user)}",
                  f"topic read {topics.ROOT}/#",
                  f"topic write {topics.ROOT}/+/cmd/+", ""]
    return "\n".join(lines)


#: On every listener (a listener option in Mosquitto 2.0, whatever per_listener_settings says).
SESSION_IS_USER = "use_username_as_clientid true"


def mosquitto_conf_text(paths: FleetPaths, broker: BrokerSettings) -> str:
    p = {k: str(v.resolve()) for k, v in {
        "passwd": paths.passwd, "acl": paths.acl, "ca": paths.ca_cert, "cert": paths.server_cert,
        "key": paths.server_key, "data": paths.broker_data}.items()}
    lines = [
        "# Generated by `robot-dog fleet`. Paths are absolute; the files must be readable by the",
        "# user mosquitto runs as (see `user`).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {p['passwd']}",
        f"acl_file {p['acl']}",
        "persistence true",
        f"persistence_location {p['data']}/",
        # No Nagle: a frame's last segment would otherwise wait for the peer's delayed ACK (40 ms).
        "set_tcp_nodelay true",
        "max_packet_size 1048576",
        # Station sessions are persistent: QoS 1 telemetry/events queue for them across their
        # reconnects (~10 min of 10 dogs at 10 Hz). Video is QoS 0 and never queued.
        "max_queued_messages 60000",  # 1 MiB: larger than any frame we send, small enough to refuse abuse
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
    ]
    if broker.run_as:
        lines.append(f"user {broker.run_as}")
    lines += [
        "",
        f"listener {broker.port} {broker.host}",
        "protocol mqtt",
        f"max_connections {broker.max_connections}",
        "# Session = user: the broker replaces the client id with the user name, so no credential",
        "# can take over (disconnect) another client's session by connecting with its client id.",
        SESSION_IS_USER,
        f"cafile {p['ca']}",
        f"certfile {p['cert']}",
        f"keyfile {p['key']}",
        "tls_version tlsv1.2",
        "require_certificate false",
        "",
    ]
    if broker.cert_port:
        lines += [
            "# Client certificates from the fleet CA instead of passwords: the user name is the",
            "# certificate's CN (a dog id); passwd is not consulted here, the ACL is.",
            f"listener {broker.cert_port} {broker.host}",
            "protocol mqtt",
            f"max_connections {broker.max_connections}",
            SESSION_IS_USER,
            f"cafile {p['ca']}",
            f"certfile {p['cert']}",
            f"keyfile {p['key']}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            "",
        ]
    if broker.plain_port:
        lines += ["# Plain (unencrypted) listener, loopback only: debugging.",
                  f"listener {broker.plain_port} 127.0.0.1", "protocol mqtt",
                  f"max_connections {broker.max_connections}", SESSION_IS_USER, ""]
    else:
        lines += ["# Plain listener disabled (enable with `fleet init --plain-port N`).", ""]
    return "\n".join(lines)


# --- files ---------------------------------------------------------------------------------------
def _secret_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_secret(path: Path, data: bytes) -> None:
    _secret_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
        os.write(fd, data)
    finally:
        os.close(fd)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


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


def _server_names(broker: BrokerSettings) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for value in dict.fromkeys(("localhost", "127.0.0.1", broker.host, *broker.extra_names)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    return names


def _create_server_cert(paths: FleetPaths, broker: BrokerSettings, now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("robot-dog broker"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(_server_names(broker)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_secret(paths.server_key, _key_pem(key))
    _write_public(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM))


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


def _write_passwd(fleet: Fleet) -> None:
    """Rebuild broker/passwd from each client's own password file, hashed by mosquitto_passwd.

    The plain text goes through a 0600 file and `mosquitto_passwd -U` (hash in place), never
    through a command line where `ps` would show it.
    """
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise FleetError("mosquitto_passwd not found (Debian package mosquitto)")
    names = [*fleet.dogs, *fleet.users]
    plain = "".join(f"{name}:{fleet.password(name)}\n" for name in names).encode()
    tmp = fleet.paths.passwd.with_name("passwd.tmp")
    _write_secret(tmp, plain)
    try:
        done = subprocess.run([tool, "-U", str(tmp)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise FleetError(f"mosquitto_passwd -U failed: {done.stderr.strip() or done.stdout.strip()}")
        hashed = tmp.read_bytes()
        if any(line and not line.split(b":", 1)[1].startswith(b"$") for line in hashed.splitlines()):
            raise FleetError("mosquitto_passwd left a password unhashed")
        _write_secret(fleet.paths.passwd, hashed)
    finally:
        tmp.unlink(missing_ok=True)


def _write_broker_config(fleet: Fleet) -> None:
    paths = fleet.paths
    _write_passwd(fleet)
    _write_public(paths.acl, acl_text(fleet.dogs, fleet.users).encode())
    _secret_dir(paths.broker_data)
    _write_public(paths.mosquitto_conf, mosquitto_conf_text(paths, fleet.broker).encode())


def _save(fleet: Fleet) -> None:
    doc = {"version": REGISTRY_VERSION, "broker": asdict(fleet.broker),
           "dogs": fleet.dogs, "station_users": fleet.users}
    _write_public(fleet.paths.registry, (json.dumps(doc, indent=2) + "\n").encode())


def _new_dog(fleet: Fleet, dog: str) -> None:
    paths = fleet.paths
    _write_secret(paths.dog_password(dog), (secrets.token_urlsafe(24) + "\n").encode())
    _write_public(paths.dog_ca_cert(dog), paths.ca_cert.read_bytes())
    key = signing.new_key()
    _write_secret(paths.command_key(dog), signing.private_pem(key))
    _write_public(paths.dog_public_key(dog), signing.public_pem(key.public_key()))
    fleet.dogs.append(dog)


def _new_user(fleet: Fleet, user: str) -> None:
    _write_secret(fleet.paths.user_password(user), (secrets.token_urlsafe(24) + "\n").encode())
    fleet.users.append(user)


def _check_names(fleet: Fleet, dogs: Sequence[str], users: Sequence[str]) -> None:
    for dog in dogs:
        try:
            topics.check_dog(dog)
        except topics.TopicError as exc:
            raise FleetError(str(exc)) from None
    for user in users:
        check_user(user)
    taken = set(fleet.dogs) | set(fleet.users)
    new = [*dogs, *users]
    clash = sorted({n for n in new if n in taken or new.count(n) > 1})
    if clash:
        # Dogs and station users share one broker namespace of user names.
        raise FleetError(f"name(s) already used: {', '.join(clash)}")


# --- public API ----------------------------------------------------------------------------------
def _check_ports(broker: BrokerSettings) -> None:
    ports = [p for p in (broker.port, broker.plain_port, broker.cert_port) if p]
    if len(set(ports)) != len(ports):
        raise FleetError(f"listener ports must differ: {ports}")


def init_fleet(out: str | Path, dogs: Sequence[str], users: Sequence[str] = (),
               broker: BrokerSettings = BrokerSettings(), certs: bool = False) -> Fleet:
    """Create a new fleet directory (refuses to touch an existing fleet). `certs`: also issue
    a client certificate to every dog (for the listener on `broker.cert_port`)."""
    root = Path(out).resolve()
    if FleetPaths(root).registry.exists() or FleetPaths(root).ca_key.exists():
        raise FleetError(f"{root} already holds a fleet; use add-dog / add-user")
    fleet = Fleet(root=root, broker=broker)
    _check_names(fleet, dogs, users)
    _check_ports(broker)
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    _create_ca(fleet.paths, now)
    _create_server_cert(fleet.paths, broker, now)
    _write_public(fleet.paths.station_ca_cert(), fleet.paths.ca_cert.read_bytes())
    # Bearer token of the station's command API (POST /api/dogs/{dog}/commands/{verb}).
    _write_secret(fleet.paths.operator_token, (secrets.token_urlsafe(32) + "\n").encode())
    for dog in dogs:
        _new_dog(fleet, dog)
        if certs:
            _create_client_cert(fleet.paths, dog, now)
    for user in users:
        _new_user(fleet, user)
    _write_broker_config(fleet)
    _save(fleet)
    _LOGGER.info("fleet created in %s: %d dog(s), %d station user(s)", root, len(dogs), len(users))
    return fleet


def load_fleet(out: str | Path) -> Fleet:
    root = Path(out).resolve()
    registry = FleetPaths(root).registry
    if not registry.is_file():
        where = "no such directory" if not root.is_dir() else f"no {registry.name} there"
        raise FleetError(f"no fleet in {root} ({where}); create one with "
                         f"`robot-dog fleet init {out} --dog ID`")
    try:
        doc = json.loads(registry.read_text())
    except (OSError, ValueError) as exc:
        raise FleetError(f"no fleet in {root}: {exc}") from None
    if doc.get("version") != REGISTRY_VERSION:
        raise FleetError(f"{root}: unsupported registry version {doc.get('version')!r}")
    broker = doc["broker"]
    broker["extra_names"] = tuple(broker.get("extra_names", ()))
    return Fleet(root=root, broker=BrokerSettings(**broker), dogs=list(doc["dogs"]),
                 users=list(doc["station_users"]))


def add_dogs(out: str | Path, dogs: Sequence[str], certs: bool = False) -> Fleet:
    """Add dogs to an existing fleet and rewrite passwd/ACL (reload the broker with SIGHUP).
    `certs`: also issue each a client certificate."""
    fleet = load_fleet(out)
    _check_names(fleet, dogs, ())
    now = dt.datetime.now(dt.timezone.utc)
    for dog in dogs:
        _new_dog(fleet, dog)
        if certs:
            _create_client_cert(fleet.paths, dog, now)
    _write_broker_config(fleet)
    _save(fleet)
    return fleet


def add_users(out: str | Path, users: Sequence[str]) -> Fleet:
    """Add station users to an existing fleet and rewrite passwd/ACL."""
    fleet = load_fleet(out)
    _check_names(fleet, (), users)
    for user in users:
        _new_user(fleet, user)
    _write_broker_config(fleet)
    _save(fleet)
    return fleet


def remove_dogs(out: str | Path, dogs: Sequence[str]) -> Fleet:
    """Revoke dogs: drop them from the registry, passwd and ACL (reload the broker with SIGHUP)
    and delete their files and command keys. A removed dog's client certificate stays valid
    until it expires (no CRL) but grants nothing: the ACL is an allow-list. Do not give its
    id to a new dog before that certificate expires."""
    fleet = load_fleet(out)
    unknown = [dog for dog in dogs if dog not in fleet.dogs]
    if unknown:
        raise FleetError(f"not dogs of this fleet: {', '.join(unknown)}")
    fleet.dogs = [dog for dog in fleet.dogs if dog not in dogs]
    _write_broker_config(fleet)
    _save(fleet)
    for dog in dogs:
        shutil.rmtree(fleet.paths.dog_dir(dog), ignore_errors=True)
        fleet.paths.command_key(dog).unlink(missing_ok=True)
    return fleet


def issue_certs(out: str | Path, dogs: Sequence[str]) -> Fleet:
    """(Re)issue client certificates to dogs of the fleet (new key each time: renewal)."""
    fleet = load_fleet(out)
    unknown = [dog for dog in dogs if dog not in fleet.dogs]
    if unknown:
        raise FleetError(f"not dogs of this fleet: {', '.join(unknown)}")
    now = dt.datetime.now(dt.timezone.utc)
    for dog in dogs:
        _create_client_cert(fleet.paths, dog, now)
    return fleet


def refresh(out: str | Path, cert_port: int | None = None) -> Fleet:
    """Rewrite the broker's files (passwd, ACL, mosquitto.conf) from the registry and the
    secrets on disk, e.g. after an upgrade changed the generated config; `cert_port` also
    opens the client-certificate listener. No key or password changes. Restart the broker:
    listener options are not reloaded on SIGHUP."""
    fleet = load_fleet(out)
    if cert_port is not None:
        fleet.broker = dataclasses.replace(fleet.broker, cert_port=cert_port)
        _check_ports(fleet.broker)
    _write_broker_config(fleet)
    _save(fleet)
    return fleet
