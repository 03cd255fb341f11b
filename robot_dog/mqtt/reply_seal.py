"""A secret the dog answers with, sealed for the one station request that asked (pure).

Why: a handheld pairing code issued from the station comes back in the dog's signed cmd/result,
and results are stored and pushed to every page at the station and pass the broker. The station
request that asks makes a fresh X25519 key pair (`RequestKey`) and sends only its public half
inside the signed command (args `key`); the dog seals the secret to it (an ephemeral X25519 key
of its own, HKDF-SHA256, ChaCha20-Poly1305 bound to `context`) and the result carries only
`sealed`. The request opens it with the private half, which never leaves the request's memory,
shows it once and forgets it. So what is stored, logged, pushed or seen by the broker opens for
nobody: a compromised broker sees the public key and the ciphertext, and cannot forge the dog's
signature on the result. (A shared secret key in the command, as a talk window's, would be read
by such a broker: a pairing code is the handheld's whole credential, so it gets a key pair.)

    sealed = base64url(dog's ephemeral public key (32) | nonce (12) | ciphertext | tag (16)),
             no padding
"""
from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from robot_dog.errors import Refused
from robot_dog.mqtt.talk_seal import KEY_BYTES, KEY_TEXT

DOMAIN = b"robot-dog/patrol/v1/sealed-reply\n"
NONCE_BYTES = 12
#: Longest sealed text accepted (a pairing code is 6 digits: 88 characters sealed).
MAX_SEALED_CHARS = 256


class SealedReplyError(Refused, ValueError):
    """A sealed reply that does not open with the request's key (changed, or another's)."""
    code = "bad_sealed_reply"

    def __init__(self, detail: str) -> None:
        Refused.__init__(self, type(self).code, detail)


class RequestKey:
    """The asking request's key pair: `public` goes into the command, the rest stays here."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public = _text(_raw(self._private.public_key()))

    def open(self, sealed: object, context: str) -> str:
        """The secret, or SealedReplyError."""
        if not isinstance(sealed, str) or not 0 < len(sealed) <= MAX_SEALED_CHARS:
            raise SealedReplyError("no sealed reply, or one too long")
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            theirs, nonce, body = (raw[:KEY_BYTES], raw[KEY_BYTES:KEY_BYTES + NONCE_BYTES],
                                   raw[KEY_BYTES + NONCE_BYTES:])
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(theirs))
            plain = ChaCha20Poly1305(_derive(shared, theirs, self.public)).decrypt(
                nonce, body, _aad(context))
            return plain.decode("utf-8")
        except (binascii.Error, InvalidTag, UnicodeDecodeError, ValueError):
            raise SealedReplyError("the sealed reply does not open with this request's key") from None


def seal(public_key: str, secret: str, context: str) -> str:
    """`secret` sealed to the request's public key (the command's `key`), bound to `context`."""
    ours = X25519PrivateKey.generate()
    mine = _raw(ours.public_key())
    try:
        shared = ours.exchange(X25519PublicKey.from_public_bytes(_key(public_key)))
    except ValueError:   # a low-order point: no shared secret
        raise SealedReplyError("the request's key is not a usable X25519 public key") from None
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = ChaCha20Poly1305(_derive(shared, mine, public_key)).encrypt(
        nonce, secret.encode("utf-8"), _aad(context))
    return _text(mine + nonce + sealed)


def _derive(shared: bytes, dog_public: bytes, request_public: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=DOMAIN + dog_public + request_public.encode("ascii")).derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key(text: str) -> bytes:
    if not isinstance(text, str) or not KEY_TEXT.fullmatch(text):
        raise SealedReplyError(f"a key is {KEY_BYTES} bytes in base64url without padding")
    return base64.urlsafe_b64decode(text + "=")


def _aad(context: str) -> bytes:
    return DOMAIN + context.encode("utf-8")


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
