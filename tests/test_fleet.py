"""`robot-dog fleet`: files, permissions, ACL rules, certificates (no broker here; see
test_mqtt_secure_broker.py for the same files enforced by a real Mosquitto)."""
import json
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from robot_dog import fleet
from robot_dog.cli import fleet as cli_fleet
from robot_dog.mqtt import signing


@pytest.fixture
def made(tmp_path):
    return fleet.init_fleet(tmp_path / "f", ["dog1", "dog2"], ["alice"],
                            fleet.BrokerSettings(port=18883))


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_secrets_are_private_and_only_in_the_output_dir(made, tmp_path):
    p = made.paths
    secrets = [p.ca_key, p.server_key, p.passwd, p.dog_password("dog1"), p.dog_password("dog2"),
               p.user_password("alice"), p.command_key("dog1"), p.command_key("dog2"),
               p.dog_evidence_key("dog1")]
    for path in secrets:
        assert mode(path) == 0o600, path
        assert mode(path.parent) == 0o700, path.parent
    assert {q.name for q in tmp_path.iterdir()} == {"f"}
    assert not list(made.root.rglob("*.tmp"))
    # The dog's directory holds no key of the station's, only what the dog needs: its own result
    # key (signs its command results) and evidence key (signs its recordings), 0600, whose
    # public halves alone are the station's.
    assert {q.name for q in p.dog_dir("dog1").iterdir()} == {"ca.crt", "password", "command.pub",
                                                             "result.key", "evidence.key"}
    assert mode(p.dog_result_key("dog1")) == 0o600
    assert b"PUBLIC KEY" in p.result_public_key("dog1").read_bytes()
    assert not list(p.root.joinpath("station").rglob("result*.key"))


@pytest.mark.slow
def test_the_station_holds_each_dogs_evidence_public_key(made):
    p = made.paths
    key = signing.load_signing_key(p.dog_evidence_key("dog1"))
    assert p.evidence_public_key("dog1").read_bytes() == signing.public_pem(key.public_key())
    assert p.evidence_public_key("dog2").read_bytes() != p.evidence_public_key("dog1").read_bytes()


@pytest.mark.slow
def test_passwords_are_hashed_in_the_broker_file(made):
    text = made.paths.passwd.read_text()
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert set(lines) == {"dog1", "dog2", "alice"}
    for name, hashed in lines.items():
        assert hashed.startswith("$7$")  # PBKDF2-SHA512
        assert made.password(name) not in text
    assert made.password("dog1") != made.password("dog2")


@pytest.mark.slow
def test_command_keys_pair_up_per_dog(made):
    p = made.paths
    key1 = signing.load_signing_key(p.command_key("dog1"))
    payload = signing.sign(key1, dog="dog1", verb="estop", args={}, now=1e9, issuer="alice")
    ok = signing.CommandVerifier("dog1", signing.load_verify_key(p.dog_public_key("dog1")),
                                 clock=lambda: 1e9)
    assert ok.verify(payload).verb == "estop"
    other = signing.CommandVerifier("dog1", signing.load_verify_key(p.dog_public_key("dog2")),
                                    clock=lambda: 1e9)
    with pytest.raises(signing.BadSignature):
        other.verify(payload)


def test_acl_rules():
    text = fleet.acl_text(["dog1"], ["alice", "bob", "carol"], {"bob": "listener", "carol": "viewer"})
    blocks = {b.splitlines()[0]: set(b.splitlines()[1:]) for b in text.split("\n\n") if b.startswith("user")}
    dog = blocks["user dog1"]
    assert "topic read patrol/v1/dog1/cmd/#" in dog
    assert "topic write patrol/v1/dog1/cmd/result" in dog
    writes = [r.split()[-1] for r in dog if r.startswith("topic write")]
    assert all(w.startswith("patrol/v1/dog1/") for w in writes)
    assert not any(w.startswith("patrol/v1/dog1/cmd/") and w != "patrol/v1/dog1/cmd/result" for w in writes)
    assert not any("#" in w for w in writes)  # no wildcard could cover cmd/{verb}
    assert [r for r in dog if r.startswith("topic read")] == ["topic read patrol/v1/dog1/cmd/#"]
    # Cameras and audio sources by name: a captured dog cannot invent topics to fill the broker.
    assert {w for w in writes if "/video/" in w or "/audio/" in w} == {
        *(f"patrol/v1/dog1/video/{c}" for c in ("bodycam", "front", "rear", "left", "right")),
        "patrol/v1/dog1/audio/mic"}
    # Evidence upload: exactly the two parts, no wildcard.
    assert {w for w in writes if "/evidence/" in w} == {
        "patrol/v1/dog1/evidence/manifest", "patrol/v1/dog1/evidence/chunk"}
    watch = {"topic read patrol/v1/+/status", "topic read patrol/v1/+/telemetry",
             "topic read patrol/v1/+/events", "topic read patrol/v1/+/video/+",
             "topic read patrol/v1/+/cmd/result"}
    command = {"topic write patrol/v1/+/cmd/+"}
    intake = {"topic read patrol/v1/+/evidence/+"}
    # No station role reads cmd/{verb} (a talk command carries its window's voice key); only
    # a listener hears the dogs' microphones; a viewer writes nothing.
    assert blocks["user alice"] == watch | intake | command | {"# role operator"}
    assert blocks["user bob"] == watch | intake | command | {"topic read patrol/v1/+/audio/+",
                                                             "# role listener"}
    assert blocks["user carol"] == watch | {"# role viewer"}
    assert "pattern" not in text and "readwrite" not in text


@pytest.mark.slow
def test_server_certificate_is_for_loopback_and_signed_by_ca(made):
    ca = x509.load_pem_x509_certificate(made.paths.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(made.paths.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def listeners(conf: str) -> dict[str, set[str]]:
    """listener line -> the option lines of its block (up to the next blank line)."""
    blocks = [b.strip().splitlines() for b in conf.split("\n\n")]
    return {lines[i]: set(lines[i + 1:]) for lines in blocks for i, line in enumerate(lines)
            if line.startswith("listener ")}


@pytest.mark.slow
def test_mosquitto_conf(made):
    conf = made.paths.mosquitto_conf.read_text()
    assert "allow_anonymous false" in conf
    assert "listener 18883 127.0.0.1" in conf
    assert f"password_file {made.paths.passwd}" in conf and f"acl_file {made.paths.acl}" in conf
    assert conf.count("\nlistener ") == 1  # plain listener off by default
    assert "0.0.0.0" not in conf
    # Session bound to the user (no client-id takeover): a listener option in Mosquitto 2.0.
    assert "use_username_as_clientid true" in listeners(conf)["listener 18883 127.0.0.1"]
    # No Nagle in the broker: with it, 4 dogs' video waited 40 ms for delayed ACKs.
    assert "\nset_tcp_nodelay true\n" in conf


@pytest.mark.slow
def test_plain_listener_only_when_asked(tmp_path):
    f = fleet.init_fleet(tmp_path / "f", ["dog1"], [], fleet.BrokerSettings(port=18883, plain_port=18884))
    conf = listeners(f.paths.mosquitto_conf.read_text())
    assert set(conf) == {"listener 18883 127.0.0.1", "listener 18884 127.0.0.1"}
    assert all("use_username_as_clientid true" in options for options in conf.values())


@pytest.mark.slow
def test_registry_round_trip_and_add(made):
    again = fleet.load_fleet(made.root)
    assert (again.dogs, again.users, again.broker) == (["dog1", "dog2"], ["alice"], made.broker)
    assert "password" not in made.paths.registry.read_text().lower()
    old_key = made.paths.command_key("dog1").read_bytes()
    fleet.add_dogs(made.root, ["dog3"])
    fleet.add_users(made.root, ["bob"])
    f = fleet.load_fleet(made.root)
    assert f.dogs == ["dog1", "dog2", "dog3"] and f.users == ["alice", "bob"]
    assert "user dog3" in f.paths.acl.read_text()
    names = [line.split(":")[0] for line in f.paths.passwd.read_text().splitlines()]
    assert names == ["dog1", "dog2", "dog3", "alice", "bob"]
    assert made.paths.command_key("dog1").read_bytes() == old_key  # existing keys untouched


@pytest.mark.slow
def test_refresh_rewrites_the_broker_config_and_keeps_every_secret(made):
    p = made.paths
    secrets = {path: path.read_bytes() for path in (p.ca_key, p.server_key, p.dog_password("dog1"),
                                                    p.user_password("alice"), p.command_key("dog1"))}
    p.mosquitto_conf.write_text("# an old config\n")
    p.acl.write_text("")
    assert cli_fleet.main(["refresh", str(made.root)]) == 0
    assert "use_username_as_clientid true" in p.mosquitto_conf.read_text()
    assert "user dog1" in p.acl.read_text()
    assert {path: path.read_bytes() for path in secrets} == secrets


@pytest.mark.slow
def test_client_certificates_only_when_asked(tmp_path):
    f = fleet.init_fleet(tmp_path / "f", ["dog1", "dog2"], ["alice"],
                         fleet.BrokerSettings(port=18883, cert_port=18885), certs=True)
    p = f.paths
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    for dog in ("dog1", "dog2"):
        cert = x509.load_pem_x509_certificate(p.dog_client_cert(dog).read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == dog
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert mode(p.dog_client_key(dog)) == 0o600
    blocks = listeners(p.mosquitto_conf.read_text())
    assert {"require_certificate true", "use_identity_as_username true",
            "use_username_as_clientid true"} <= blocks["listener 18885 127.0.0.1"]
    assert "require_certificate false" in blocks["listener 18883 127.0.0.1"]
    # Without asking: no certificate, no certificate listener.
    fleet.add_dogs(f.root, ["dog3"])
    assert not p.dog_client_cert("dog3").exists()
    plain = fleet.init_fleet(tmp_path / "g", ["dog1"], [], fleet.BrokerSettings(port=18883))
    assert "require_certificate true" not in plain.paths.mosquitto_conf.read_text()
    assert {q.name for q in plain.paths.dog_dir("dog1").iterdir()} == {"ca.crt", "password",
                                                                      "command.pub", "result.key",
                                                                      "evidence.key"}


@pytest.mark.slow
def test_certificate_cli(tmp_path, capsys):
    out = tmp_path / "f"
    assert cli_fleet.main(["init", str(out), "--dog", "dog1", "--port", "18883"]) == 0
    assert cli_fleet.main(["add-dog", str(out), "dog2", "--cert"]) == 0
    f = fleet.load_fleet(out)
    assert f.paths.dog_client_cert("dog2").exists() and not f.paths.dog_client_cert("dog1").exists()
    assert "no certificate listener" in capsys.readouterr().out
    assert cli_fleet.main(["cert", str(out), "dog1", "dog2"]) == 0
    old_key = f.paths.dog_client_key("dog2").read_bytes()
    assert cli_fleet.main(["cert", str(out), "dog2"]) == 0       # renewal: a new key
    assert f.paths.dog_client_key("dog2").read_bytes() != old_key
    assert cli_fleet.main(["cert", str(out), "nodog"]) == 1
    assert cli_fleet.main(["refresh", str(out), "--cert-port", "18883"]) == 1  # taken by TLS
    assert cli_fleet.main(["refresh", str(out), "--cert-port", "18884"]) == 0
    assert fleet.load_fleet(out).broker.cert_port == 18884
    assert "listener 18884 127.0.0.1" in f.paths.mosquitto_conf.read_text()
    assert "mqtts://127.0.0.1:18884" in capsys.readouterr().out


@pytest.mark.slow
def test_remove_dog_revokes_it(made):
    p = made.paths
    assert cli_fleet.main(["remove-dog", str(made.root), "dog2"]) == 0
    f = fleet.load_fleet(made.root)
    assert f.dogs == ["dog1"]
    assert "dog2" not in p.acl.read_text() and "dog2:" not in p.passwd.read_text()
    assert not p.dog_dir("dog2").exists() and not p.command_key("dog2").exists()
    assert p.dog_dir("dog1").exists() and p.command_key("dog1").exists()
    assert cli_fleet.main(["remove-dog", str(made.root), "dog2"]) == 1


@pytest.mark.parametrize("dogs, users", [
    (["Dog1"], []), (["dog1", "dog1"], []), (["dog1"], ["dog1"]), (["dog1"], ["bad user"]),
    (["a/b"], []),
])
def test_bad_names_are_refused(tmp_path, dogs, users):
    with pytest.raises(fleet.FleetError):
        fleet.init_fleet(tmp_path / "f", dogs, users)
    assert not (tmp_path / "f" / "ca").exists()


@pytest.mark.slow
def test_cli(tmp_path, capsys):
    out = tmp_path / "f"
    assert cli_fleet.main(["init", str(out), "--dog", "dog1", "--user", "alice", "--port", "18999"]) == 0
    assert "dog1" in capsys.readouterr().out
    assert json.loads((out / "fleet.json").read_text())["broker"]["port"] == 18999
    assert cli_fleet.main(["init", str(out), "--dog", "dog2"]) == 1  # never overwrites a fleet
    assert "already holds a fleet" in capsys.readouterr().err
    assert cli_fleet.main(["add-dog", str(out), "dog2"]) == 0
    assert cli_fleet.main(["show", str(out)]) == 0
    assert "dog1, dog2" in capsys.readouterr().out
    assert cli_fleet.main(["show", str(tmp_path / "nothing")]) == 1
    assert "robot-dog fleet init" in capsys.readouterr().err
    assert cli_fleet.main(["add-dog", str(tmp_path / "nothing"), "dog9"]) == 1
    err = capsys.readouterr().err
    assert "no such directory" in err and f"robot-dog fleet init {tmp_path / 'nothing'} --dog ID" in err
