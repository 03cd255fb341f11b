"""Fleet directory on disk: CA, broker TLS/password/ACL config, per-dog credentials and command keys.

Everything is generated into one output directory and nowhere else. Layout (secrets 0600,
their directories 0700):

    fleet.json                       registry: dogs, station users, broker address (no secrets)
    ca/ca.crt  ca/ca.key             the fleet CA (the key signs broker certificates only)
    broker/server.crt server.key     TLS for 127.0.0.1/localhost (+ --host names)
    broker/passwd                    mosquitto_passwd hashes of every dog and station user
    broker/acl                       dog: own tree (fixed camera/audio names), never own commands;
                                     station user: by role (viewer, operator, listener)
    broker/mosquitto.conf            TLS listener (plain listener only if asked, loopback); on
                                     every listener the client id is the user name; with a
                                     cert_port, a second TLS listener for client certificates
    dogs/<dog>/                      copy to the dog: ca.crt, password, command.pub, result.key
                                     (the dog's own key that signs its command results),
                                     evidence.key (Ed25519: signs the recorder's manifests) (and
                                     with `--cert` client.crt, client.key: CN = dog id, by the CA)
    station/ca.crt                   for station clients
    station/users/<user>.password    one broker credential per station user
    station/command_keys/<dog>.key   Ed25519 private key that signs <dog>'s commands; never leaves
    station/result_keys/<dog>.pub    public half of <dog>'s result key: only results it verifies count
    station/evidence_keys/<dog>.pub  public half of <dog>'s evidence key: verifies its recordings

No shared operator token: the station's people are accounts in its database (`fleet init`
makes the first admin, station/first-admin.password), scripts use per-person API tokens. An old
fleet's station/operator.token is turned into an admin API token by `robot-dog station
migrate`, never adopted silently.

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

Modules, one job each: `layout` (where each file lives, the registry record, names), `files`
(secret and public files with their modes), `ca` (the CA and the certificates it signs),
`passwords` (broker/passwd), `broker_config` (ACL and mosquitto.conf), `registry` (fleet.json
and the operations: init, load, add, remove, issue certificates, refresh).
"""
from robot_dog.fleet.broker_config import (DEFAULT_ROLE, ROLES, SESSION_IS_USER, acl_text,
                                           mosquitto_conf_text)
from robot_dog.fleet.ca import CA_DAYS, CLIENT_DAYS, SERVER_DAYS
from robot_dog.fleet.layout import USER_NAME, BrokerSettings, Fleet, FleetError, FleetPaths, check_user
from robot_dog.fleet.registry import (REGISTRY_VERSION, add_dogs, add_users, init_fleet, issue_certs,
                                      load_fleet, refresh, remove_dogs)

__all__ = ["CA_DAYS", "CLIENT_DAYS", "DEFAULT_ROLE", "ROLES", "REGISTRY_VERSION", "SERVER_DAYS", "SESSION_IS_USER", "USER_NAME",
           "BrokerSettings", "Fleet", "FleetError", "FleetPaths", "acl_text", "add_dogs", "add_users",
           "check_user", "init_fleet", "issue_certs", "load_fleet", "mosquitto_conf_text", "refresh",
           "remove_dogs"]
