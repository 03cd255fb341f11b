"""Signed command results, sans-I/O: the dog signs every cmd/result with its own Ed25519 key,
the station files only results that verify with that dog's public key.

Why: the broker cannot keep a forged result out. Every station user may write `cmd/+` (the ACL
has no finer grain than a level), which includes `cmd/result`, and a compromised broker can
publish anything; without a signature, any station credential could answer a command for a dog
whose uplink is down ("estop engaged": a lie about a safety action) and the audit would file it.

A result key is the dog's own (`dogs/<dog>/result.key`, never on the station); the station holds
only the public half (`station/result_keys/<dog>.pub`). A captured dog can sign results only as
itself. Signed bytes: DOMAIN + canonical JSON of the result without `sig` (the same canonical
form as commands, robot_dog.mqtt.signing; another domain, so no command signature is ever a
valid result signature or the other way round). The signature does not make a result fresh: the
station matches it to a command it sent, by nonce and dog, and takes only the first.
"""
from __future__ import annotations

from robot_dog.errors import Refused

import time
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from robot_dog.mqtt import schema, signing, topics
from robot_dog.mqtt.errors import MqttLinkError

VERSION = 1
DOMAIN = b"robot-dog/patrol/v1/result\n"


class ResultRefused(MqttLinkError, Refused):
    """The station drops a result; `code` is stable (dead letters, security log)."""
    code = "result_refused"

    def __init__(self, detail: str = "") -> None:
        Refused.__init__(self, type(self).code, detail)


class UnsignedResult(ResultRefused):
    code = "unsigned_result"


class BadResultSignature(ResultRefused):
    code = "bad_result_signature"


class NoResultKey(ResultRefused):
    """The station has no result key for this dog: it cannot tell its results from forgeries."""
    code = "no_result_key"


def sign(key: Ed25519PrivateKey, dog: str, now: float, *, code: str, ok: bool | None = None,
         command: signing.Command | None = None, nonce: str | None = None,
         verb: str | None = None, message: str = "", data: Mapping[str, Any] | None = None) -> bytes:
    """Encode a signed cmd/result payload. `ok` defaults to code == "ok"."""
    body: dict[str, Any] = {"v": VERSION, "dog": topics.check_dog(dog), "ts": now,
                            "ok": code == "ok" if ok is None else ok, "code": code}
    nonce = command.nonce if command else nonce
    verb = command.verb if command else verb
    if nonce:
        body["nonce"] = nonce[:64]
    if verb:
        body["verb"] = verb[:32]
    if command is not None:
        body["issuer"] = command.issuer  # the person the dog acted for, under its signature
    if message:
        body["message"] = message[:512]
    if data is not None:
        body["data"] = dict(data)
    body["sig"] = signing._b64(key.sign(signing.canonical(body, DOMAIN)))
    return schema.encode("result", body)


def rejection(key: Ed25519PrivateKey, dog: str, now: float, payload: bytes,
              error: signing.CommandRejected) -> bytes:
    """Signed cmd/result for a refused command, quoting its nonce/verb when they can be read."""
    nonce = verb = None
    try:
        env = schema.strict_loads(payload, schema.MAX_BYTES["command"])
        if isinstance(env, dict):
            nonce = env.get("nonce") if isinstance(env.get("nonce"), str) else None
            verb = env.get("verb") if isinstance(env.get("verb"), str) else None
    except schema.SchemaError:
        pass
    return sign(key, dog, now, code=error.code, nonce=nonce, verb=verb, message=str(error))


def verify(doc: Mapping[str, Any], public_key: Ed25519PublicKey | None) -> None:
    """Raise ResultRefused unless `doc` (a schema-valid result) carries a signature that
    verifies with `public_key`, the key of the dog whose topic it came on."""
    if public_key is None:
        raise NoResultKey(f"no result key for {doc.get('dog')!r}: results cannot be told from forgeries")
    if "sig" not in doc:
        raise UnsignedResult("result without a signature")
    try:
        public_key.verify(signing._unb64(doc["sig"]), signing.canonical(doc, DOMAIN))
    except (InvalidSignature, ValueError):
        raise BadResultSignature(f"signature does not verify with {doc.get('dog')}'s result key") from None


class ResultSigner:
    """The dog's signer: its result key and a clock (injectable for tests)."""

    def __init__(self, dog: str, key: Ed25519PrivateKey, clock: Callable[[], float] = time.time):
        self.dog, self._key, self._clock = topics.check_dog(dog), key, clock

    def result(self, code: str, *, command: signing.Command | None = None, message: str = "",
               **fields: Any) -> bytes:
        return sign(self._key, self.dog, self._clock(), code=code, command=command,
                    message=message, **fields)

    def rejection(self, payload: bytes, error: signing.CommandRejected) -> bytes:
        return rejection(self._key, self.dog, self._clock(), payload, error)
