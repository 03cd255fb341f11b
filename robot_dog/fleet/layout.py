"""The fleet directory's layout and its registry record: where each file lives, what a fleet is."""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import re
from dataclasses import dataclass, field
from pathlib import Path

from robot_dog.mqtt import topics

#: Station user names double as command `issuer`: same alphabet as the command schema.
USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class FleetError(RobotDogError):
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
    def dog_result_key(self, dog: str) -> Path: return self.dog_dir(dog) / "result.key"
    def dog_client_cert(self, dog: str) -> Path: return self.dog_dir(dog) / "client.crt"
    def dog_client_key(self, dog: str) -> Path: return self.dog_dir(dog) / "client.key"
    def station_ca_cert(self) -> Path: return self.root / "station" / "ca.crt"
    @property
    def operator_token(self) -> Path:
        """An old fleet's shared token (no longer written; `robot-dog station migrate` reads it)."""
        return self.root / "station" / "operator.token"
    @property
    def first_admin_password(self) -> Path: return self.root / "station" / "first-admin.password"
    def user_password(self, user: str) -> Path:
        return self.root / "station" / "users" / f"{check_user(user)}.password"
    def command_key(self, dog: str) -> Path:
        return self.root / "station" / "command_keys" / f"{topics.check_dog(dog)}.key"
    def result_public_key(self, dog: str) -> Path:
        return self.root / "station" / "result_keys" / f"{topics.check_dog(dog)}.pub"
    # The result and evidence keys run the other way: the dog signs (its command results, its
    # recordings' manifests), the station holds the public half to verify what it receives.
    def dog_evidence_key(self, dog: str) -> Path: return self.dog_dir(dog) / "evidence.key"
    def evidence_public_key(self, dog: str) -> Path:
        return self.root / "station" / "evidence_keys" / f"{topics.check_dog(dog)}.pub"


@dataclass
class Fleet:
    """The registry (fleet.json) plus where its files are."""
    root: Path
    broker: BrokerSettings
    dogs: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # station user -> role (broker_config.ROLES)

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
