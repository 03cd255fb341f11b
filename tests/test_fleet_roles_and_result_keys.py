"""`robot-dog fleet`: station user roles (CLI, registry, ACL) and the dogs' result keys (made
for every dog, given by `refresh` to an older fleet's dogs, revoked with the dog)."""
from __future__ import annotations

import json

import pytest

from robot_dog import fleet
from robot_dog.cli import fleet as cli_fleet
from robot_dog.mqtt import results, signing


def acl_block(fleet_dir, user: str) -> set[str]:
    text = (fleet_dir / "broker" / "acl").read_text()
    block = next(b for b in text.split("\n\n") if b.startswith(f"user {user}\n"))
    return set(block.splitlines()[1:])


@pytest.mark.slow  # fleet init runs openssl
def test_roles_from_the_command_line_reach_registry_and_acl(tmp_path, capsys):
    out = tmp_path / "f"
    assert cli_fleet.main(["init", str(out), "--dog", "dog1", "--user", "station", "--user", "eve",
                           "--role", "station=listener", "--port", "18883"]) == 0
    assert "station (listener), eve (operator)" in capsys.readouterr().out
    assert json.loads((out / "fleet.json").read_text())["roles"] == {"station": "listener",
                                                                     "eve": "operator"}
    assert "topic read patrol/v1/+/audio/+" in acl_block(out, "station")
    assert "topic read patrol/v1/+/audio/+" not in acl_block(out, "eve")
    assert cli_fleet.main(["add-user", str(out), "wall", "--role", "wall=viewer"]) == 0
    assert not any(r.startswith("topic write") for r in acl_block(out, "wall"))
    assert fleet.load_fleet(out).roles["wall"] == "viewer"
    # Refresh keeps the roles, and changes one when asked.
    assert cli_fleet.main(["refresh", str(out)]) == 0
    assert "topic read patrol/v1/+/audio/+" in acl_block(out, "station")
    assert cli_fleet.main(["refresh", str(out), "--role", "eve=listener", "--role", "station=viewer"]) == 0
    assert "topic read patrol/v1/+/audio/+" in acl_block(out, "eve")
    assert not any(r.startswith("topic write") for r in acl_block(out, "station"))
    assert cli_fleet.main(["refresh", str(out), "--role", "mallory=listener"]) == 1
    assert "not one of the station users" in capsys.readouterr().err


@pytest.mark.parametrize("args,says", [
    (["--user", "a", "--role", "a=root"], "unknown role 'root'"),
    (["--user", "a", "--role", "b=viewer"], "not one of the station users"),
    (["--user", "a", "--role", "a"], "USER=ROLE"),
])
def test_bad_roles_are_refused_and_nothing_is_made(tmp_path, capsys, args, says):
    out = tmp_path / "f"
    assert cli_fleet.main(["init", str(out), "--dog", "dog1", "--port", "18883", *args]) == 1
    assert says in capsys.readouterr().err
    assert not (out / "fleet.json").exists()


@pytest.mark.slow  # fleet init runs openssl
def test_a_registry_without_roles_makes_operators(tmp_path):
    made = fleet.init_fleet(tmp_path / "f", ["dog1"], ["alice"], fleet.BrokerSettings(port=18883))
    doc = json.loads(made.paths.registry.read_text())
    del doc["roles"]  # a fleet made before roles
    made.paths.registry.write_text(json.dumps(doc))
    fleet.refresh(made.root)
    assert acl_block(made.root, "alice") == {
        "# role operator", "topic write patrol/v1/+/cmd/+", *(f"topic read patrol/v1/+/{leaf}" for leaf in (
            "status", "telemetry", "events", "video/+", "cmd/result", "evidence/+"))}


@pytest.mark.slow  # fleet init runs openssl
def test_result_keys_pair_up_and_refresh_gives_old_dogs_one(tmp_path):
    made = fleet.init_fleet(tmp_path / "f", ["dog1", "dog2"], [], fleet.BrokerSettings(port=18883))
    p = made.paths
    signed = results.sign(signing.load_signing_key(p.dog_result_key("dog1")), "dog1", 1.0, code="ok")
    results.verify(json.loads(signed), signing.load_verify_key(p.result_public_key("dog1")))
    with pytest.raises(results.BadResultSignature):
        results.verify(json.loads(signed), signing.load_verify_key(p.result_public_key("dog2")))
    # A fleet made before results were signed: refresh makes the missing pair, keeps the rest.
    kept = p.result_public_key("dog2").read_bytes()
    p.dog_result_key("dog1").unlink()
    p.result_public_key("dog1").unlink()
    fleet.refresh(made.root)
    assert p.dog_result_key("dog1").exists() and p.result_public_key("dog1").exists()
    assert p.result_public_key("dog2").read_bytes() == kept
    # Revoked with the dog.
    fleet.remove_dogs(made.root, ["dog1"])
    assert not p.result_public_key("dog1").exists()
