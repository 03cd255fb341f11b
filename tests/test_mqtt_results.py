"""Signed command results (robot_dog.mqtt.results): the dog signs, the station verifies with
that dog's public key; an unsigned, altered or foreign-key result is refused with a code."""
from __future__ import annotations

import json

import pytest

from robot_dog.mqtt import results, schema, signing

T0 = 1_700_000_000.0


@pytest.fixture
def keys():
    return {"dog1": signing.new_key(), "dog2": signing.new_key(), "station": signing.new_key()}


def command(keys) -> tuple[bytes, signing.Command, signing.CommandVerifier]:
    payload = signing.sign(keys["station"], dog="dog1", verb="siren", args={"tone": "yelp"},
                           now=T0, issuer="alice")
    verifier = signing.CommandVerifier("dog1", keys["station"].public_key(), clock=lambda: T0)
    return payload, verifier.verify(payload), verifier


def test_a_signed_result_verifies_with_the_dogs_key(keys):
    _, cmd, _ = command(keys)
    doc = schema.decode("result", results.sign(keys["dog1"], "dog1", T0, code="ok", command=cmd))
    assert doc["ok"] is True and doc["nonce"] == cmd.nonce and doc["verb"] == "siren"
    results.verify(doc, keys["dog1"].public_key())


def test_rejections_are_signed_and_quote_what_they_can(keys):
    payload, cmd, verifier = command(keys)
    signer = results.ResultSigner("dog1", keys["dog1"], clock=lambda: T0)
    with pytest.raises(signing.CommandRejected) as info:
        verifier.verify(payload)  # a replay
    rejected = schema.decode("result", signer.rejection(payload, info.value))
    assert rejected["ok"] is False and rejected["code"] == "replayed" and rejected["nonce"] == cmd.nonce
    results.verify(rejected, keys["dog1"].public_key())
    garbage = schema.decode("result", signer.rejection(b"\xff", signing.Malformed("x")))
    assert garbage["code"] == "malformed" and "nonce" not in garbage
    results.verify(garbage, keys["dog1"].public_key())


@pytest.mark.parametrize("change", [
    lambda d: d.update(ok=False), lambda d: d.update(code="failed"), lambda d: d.update(nonce="x" * 22),
    lambda d: d.update(message="estop engaged"), lambda d: d.update(ts=T0 + 1), lambda d: d.update(dog="dog2"),
])
def test_any_changed_field_breaks_the_signature(keys, change):
    _, cmd, _ = command(keys)
    doc = json.loads(results.sign(keys["dog1"], "dog1", T0, code="ok", command=cmd, message="done"))
    change(doc)
    with pytest.raises(results.BadResultSignature):
        results.verify(doc, keys["dog1"].public_key())


def test_another_key_unsigned_or_no_key_is_refused(keys):
    _, cmd, _ = command(keys)
    doc = json.loads(results.sign(keys["dog2"], "dog1", T0, code="ok", command=cmd))
    with pytest.raises(results.BadResultSignature) as info:
        results.verify(doc, keys["dog1"].public_key())
    assert info.value.code == "bad_result_signature"
    with pytest.raises(results.UnsignedResult):
        results.verify({k: v for k, v in doc.items() if k != "sig"}, keys["dog1"].public_key())
    with pytest.raises(results.NoResultKey):
        results.verify(doc, None)


def test_a_command_signature_is_no_result_signature(keys):
    """Domain separation: bytes signed as a command never verify as a result."""
    body = {"v": 1, "dog": "dog1", "ts": T0, "ok": True, "code": "ok"}
    body["sig"] = signing._b64(keys["dog1"].sign(signing.canonical(body)))
    with pytest.raises(results.BadResultSignature):
        results.verify(body, keys["dog1"].public_key())
