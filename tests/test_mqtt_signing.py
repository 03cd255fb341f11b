"""Command signing: every way a command can be wrong is refused with its own stable code."""
import json

import pytest

from robot_dog.mqtt import schema, signing
from robot_dog.mqtt.signing import CommandVerifier, ReplayCache

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys():
    return {"dog1": signing.new_key(), "dog2": signing.new_key()}


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def verifier(keys, clock):
    return CommandVerifier("dog1", keys["dog1"].public_key(), clock=clock, skew_s=2.0)


def make(keys, dog="dog1", verb="siren", key_of=None, now=T0, **kw):
    return signing.sign(keys[key_of or dog], dog=dog, verb=verb, args={"tone": "wail", "volume": 0.8},
                        now=now, issuer="alice", **kw)


def tamper(payload: bytes, **changes) -> bytes:
    env = json.loads(payload)
    env.update(changes)
    return json.dumps(env).encode()


def codes(verifier, payload, verb=None):
    with pytest.raises(signing.CommandRejected) as info:
        verifier.verify(payload, verb)
    return info.value.code


def test_good_command_is_accepted_once(keys, verifier):
    payload = make(keys)
    cmd = verifier.verify(payload, "siren")
    assert (cmd.dog, cmd.verb, cmd.issuer) == ("dog1", "siren", "alice")
    assert cmd.args == {"tone": "wail", "volume": 0.8}
    assert cmd.expires_at - cmd.issued_at == 10_000
    assert codes(verifier, payload) == "replayed"


def test_envelope_matches_schema_and_has_all_fields(keys):
    env = schema.decode("command", make(keys))
    assert set(env) == {"v", "dog", "verb", "args", "issued_at", "expires_at", "nonce", "issuer", "sig"}


def test_canonical_form_is_key_order_independent():
    a = signing.canonical({"b": 1, "a": {"y": "é", "x": 2}, "sig": "ignored"})
    b = signing.canonical({"a": {"x": 2, "y": "é"}, "b": 1})
    assert a == b == signing.DOMAIN + '{"a":{"x":2,"y":"é"},"b":1}'.encode()


def test_reformatted_json_still_verifies(keys, verifier):
    # Whitespace and key order on the wire do not matter; only the values are signed.
    env = json.loads(make(keys))
    reordered = json.dumps(dict(reversed(list(env.items()))), indent=2).encode()
    assert verifier.verify(reordered).verb == "siren"


@pytest.mark.parametrize("change", [
    {"args": {"tone": "yelp", "volume": 0.8}}, {"verb": "lights"}, {"issuer": "mallory"},
    {"expires_at": int(T0 * 1000) + 20_000}, {"nonce": "B" * 22}, {"issued_at": int(T0 * 1000) + 1},
])
def test_any_changed_field_breaks_the_signature(keys, verifier, change):
    assert codes(verifier, tamper(make(keys), **change)) == "bad_signature"


def test_signature_by_another_dogs_key_is_refused(keys, verifier):
    assert codes(verifier, make(keys, dog="dog1", key_of="dog2")) == "bad_signature"


def test_garbage_signature_is_refused(keys, verifier):
    assert codes(verifier, tamper(make(keys), sig="A" * 86)) == "bad_signature"


def test_command_for_another_dog_is_refused(keys, verifier):
    assert codes(verifier, make(keys, dog="dog2")) == "wrong_dog"


def test_verb_must_match_topic(keys, verifier):
    assert codes(verifier, make(keys, verb="siren"), verb="estop") == "wrong_verb"


def test_expiry_with_skew_tolerance(keys, verifier, clock):
    payload = make(keys, ttl_s=5)
    clock.now = T0 + 5 + 2.0 + 0.001
    assert codes(verifier, payload) == "expired"
    clock.now = T0 + 5 + 2.0  # last accepted instant
    assert verifier.verify(payload).verb == "siren"


def test_not_yet_valid_beyond_skew(keys, verifier):
    assert codes(verifier, make(keys, now=T0 + 2.5)) == "not_yet_valid"
    assert verifier.verify(make(keys, now=T0 + 1.5)).verb == "siren"  # within skew


def test_excessive_validity_is_refused(keys, verifier):
    env = json.loads(make(keys))
    env["expires_at"] = env["issued_at"] + 3_600_000
    env["sig"] = signing._b64(keys["dog1"].sign(signing.canonical(env)))
    assert codes(verifier, json.dumps(env).encode()) == "ttl_too_long"
    with pytest.raises(ValueError):
        make(keys, ttl_s=3600)


def test_expires_before_issued_is_malformed(keys, verifier):
    env = json.loads(make(keys))
    env["expires_at"] = env["issued_at"] - 1
    env["sig"] = signing._b64(keys["dog1"].sign(signing.canonical(env)))
    assert codes(verifier, json.dumps(env).encode()) == "malformed"


@pytest.mark.parametrize("payload", [
    b"", b"not json", b"[]", b'{"v":1}', b"\x00" * 9000,
])
def test_malformed_payloads(verifier, payload):
    assert codes(verifier, payload) == "malformed"


def test_duplicate_keys_are_malformed(keys, verifier):
    # A second "verb" would let two JSON parsers disagree on what was signed.
    text = make(keys).decode()
    assert codes(verifier, text.replace('"verb":"siren"', '"verb":"siren","verb":"estop"').encode()) == "malformed"


def test_rejected_command_does_not_burn_the_nonce(keys, verifier):
    good = make(keys, nonce="N" * 22)
    forged = tamper(good, args={"tone": "yelp"})
    assert codes(verifier, forged) == "bad_signature"
    assert verifier.verify(good).nonce == "N" * 22


def test_replay_cache_forgets_only_after_expiry(keys, clock):
    verifier = CommandVerifier("dog1", keys["dog1"].public_key(), clock=clock, skew_s=2.0,
                               replay=ReplayCache(max_entries=2))
    first = make(keys, ttl_s=5)
    verifier.verify(first)
    verifier.verify(make(keys, ttl_s=60))
    # Full of live nonces: refusing is safe, evicting one would reopen a replay.
    assert codes(verifier, make(keys)) == "replay_cache_full"
    clock.now = T0 + 7.001  # first is past expiry + skew: its slot frees, and it is expired anyway
    assert codes(verifier, first) == "expired"
    verifier.verify(make(keys, now=clock.now))  # fits: the expired nonce was purged
    assert len(verifier.replay) == 2


def test_commands_issued_before_restart_are_stale(keys, clock):
    payload = make(keys, ttl_s=60)
    clock.now = T0 + 30  # dog restarted: a fresh verifier has no memory of earlier nonces
    verifier = CommandVerifier("dog1", keys["dog1"].public_key(), clock=clock)
    assert codes(verifier, payload) == "stale"


def test_keys_round_trip_through_pem(tmp_path, keys):
    (tmp_path / "k").write_bytes(signing.private_pem(keys["dog1"]))
    (tmp_path / "k.pub").write_bytes(signing.public_pem(keys["dog1"].public_key()))
    payload = signing.sign(signing.load_signing_key(tmp_path / "k"), dog="dog1", verb="estop",
                           args={}, now=T0, issuer="alice")
    verifier = CommandVerifier("dog1", signing.load_verify_key(tmp_path / "k.pub"), clock=FakeClock())
    assert verifier.verify(payload, "estop").verb == "estop"
    with pytest.raises(ValueError):
        signing.load_signing_key(tmp_path / "k.pub")
