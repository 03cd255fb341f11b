"""fleet.json and the operations on a fleet: init, load, add and remove dogs and users,
issue certificates, refresh the broker's files."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from robot_dog.fleet.broker_config import DEFAULT_ROLE, ROLES, _write_broker_config
from robot_dog.fleet.ca import _create_ca, _create_client_cert, _create_server_cert
from robot_dog.fleet.files import _write_public, _write_secret
from robot_dog.fleet.layout import BrokerSettings, Fleet, FleetError, FleetPaths, check_user
from robot_dog.mqtt import signing, topics

_LOGGER = logging.getLogger(__name__)

REGISTRY_VERSION = 1


def _save(fleet: Fleet) -> None:
    doc = {"version": REGISTRY_VERSION, "broker": asdict(fleet.broker),
           "dogs": fleet.dogs, "station_users": fleet.users, "roles": fleet.roles}
    _write_public(fleet.paths.registry, (json.dumps(doc, indent=2) + "\n").encode())


def _new_dog(fleet: Fleet, dog: str) -> None:
    paths = fleet.paths
    _write_secret(paths.dog_password(dog), (secrets.token_urlsafe(24) + "\n").encode())
    _write_public(paths.dog_ca_cert(dog), paths.ca_cert.read_bytes())
    key = signing.new_key()
    _write_secret(paths.command_key(dog), signing.private_pem(key))
    _write_public(paths.dog_public_key(dog), signing.public_pem(key.public_key()))
    _new_dog_key_pair(paths.dog_evidence_key(dog), paths.evidence_public_key(dog))
    _new_dog_key_pair(paths.dog_result_key(dog), paths.result_public_key(dog))
    fleet.dogs.append(dog)


def _new_dog_key_pair(private: Path, public: Path) -> None:
    """A key of the dog's own (it signs what the dog says: command results, evidence
    manifests); the station gets the public half to verify with."""
    key = signing.new_key()
    _write_secret(private, signing.private_pem(key))
    _write_public(public, signing.public_pem(key.public_key()))


def _new_user(fleet: Fleet, user: str, role: str | None = None) -> None:
    _write_secret(fleet.paths.user_password(user), (secrets.token_urlsafe(24) + "\n").encode())
    fleet.users.append(user)
    fleet.roles[user] = role or DEFAULT_ROLE


def _check_roles(users: Sequence[str], roles: Mapping[str, str]) -> None:
    for user, role in roles.items():
        if user not in users:
            raise FleetError(f"role given for {user!r}, who is not one of the station users here")
        if role not in ROLES:
            raise FleetError(f"unknown role {role!r} for {user}: one of {', '.join(ROLES)}")


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
               broker: BrokerSettings = BrokerSettings(),  # noqa: B008 (frozen: immutable)
               certs: bool = False, roles: Mapping[str, str] | None = None) -> Fleet:
    """Create a new fleet directory (refuses to touch an existing fleet). `certs`: also issue
    a client certificate to every dog (for the listener on `broker.cert_port`). `roles`: station
    user -> role (viewer, operator, listener; default operator)."""
    root = Path(out).resolve()
    if FleetPaths(root).registry.exists() or FleetPaths(root).ca_key.exists():
        raise FleetError(f"{root} already holds a fleet; use add-dog / add-user")
    fleet = Fleet(root=root, broker=broker)
    _check_names(fleet, dogs, users)
    _check_roles(users, roles or {})
    _check_ports(broker)
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    _create_ca(fleet.paths, now)
    _create_server_cert(fleet.paths, broker, now)
    _write_public(fleet.paths.station_ca_cert(), fleet.paths.ca_cert.read_bytes())
    # No shared operator token (fleets made before accounts had station/operator.token): people log
    # in with accounts, scripts use per-person API tokens (robot-dog station token create).
    for dog in dogs:
        _new_dog(fleet, dog)
        if certs:
            _create_client_cert(fleet.paths, dog, now)
    for user in users:
        _new_user(fleet, user, (roles or {}).get(user))
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
                 users=list(doc["station_users"]), roles=dict(doc.get("roles", {})))


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


def add_users(out: str | Path, users: Sequence[str], roles: Mapping[str, str] | None = None) -> Fleet:
    """Add station users (with their roles, default operator) and rewrite passwd/ACL."""
    fleet = load_fleet(out)
    _check_names(fleet, (), users)
    _check_roles(users, roles or {})
    for user in users:
        _new_user(fleet, user, (roles or {}).get(user))
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
        fleet.paths.result_public_key(dog).unlink(missing_ok=True)
        # The station keeps the dog's evidence public key: recordings already received must
        # stay verifiable after the dog is retired.
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


def refresh(out: str | Path, cert_port: int | None = None,
            roles: Mapping[str, str] | None = None) -> Fleet:
    """Rewrite the broker's files (passwd, ACL, mosquitto.conf) from the registry and the
    secrets on disk, e.g. after an upgrade changed the generated config; `cert_port` also
    opens the client-certificate listener. No key or password changes, except that a dog
    without a result key (a fleet made before results were signed) gets one: copy its
    `result.key` to the dog. `roles`: new roles of existing station users. Restart the broker:
    listener options are not reloaded on SIGHUP (the ACL is: SIGHUP for role changes alone)."""
    fleet = load_fleet(out)
    _check_roles(fleet.users, roles or {})
    fleet.roles.update(roles or {})
    for dog in fleet.dogs:
        if not fleet.paths.dog_result_key(dog).exists():
            _new_dog_key_pair(fleet.paths.dog_result_key(dog), fleet.paths.result_public_key(dog))
            _LOGGER.warning("%s had no result key: new one in %s; copy it to the dog", dog,
                            fleet.paths.dog_result_key(dog))
    if cert_port is not None:
        fleet.broker = dataclasses.replace(fleet.broker, cert_port=cert_port)
        _check_ports(fleet.broker)
    _write_broker_config(fleet)
    _save(fleet)
    return fleet
