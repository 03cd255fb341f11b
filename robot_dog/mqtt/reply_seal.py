"""A secret the dog answers with, sealed for the one station request that asked (pure).

Why: a handheld pairing code issued from the station comes back in the dog's signed cmd/result,
and results are stored and pushed to every page at the station and pass the broker. The station
request that asks makes a fresh random key (`new_key`) and sends it inside the signed command
(args `key`; the station never stores or logs a command's `key`, robot_dog/station/dispatch.py);
the dog seals the secret with it (ChaCha20-Poly1305, bound to `context`) and the result carries
only `sealed`. The request opens it, shows it once, and forgets the key: what is stored, logged
or pushed is ciphertext nobody keeps the key to. A compromised broker sees the key in the signed
command (signed, not encrypted) as it does a talk window's; it cannot forge the dog's signature
on the result.

    sealed = base64url(nonce (12 bytes) | ciphertext | tag (16 bytes)), no padding
"""
from __future__ import annotations

import base64
import binascii
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from robot_dog.errors import Refused
from robot_dog.mqtt.talk_seal import KEY_BYTES, KEY_TEXT

DOMAIN = b"robot-dog/patrol/v1/sealed-reply\n"
NONCE_BYTES = 12
#: Longest sealed text accepted (a pairing code is 6 digits: ~50 characters sealed).
MAX_SEALED_CHARS = 256


class SealedReplyError(Refused, ValueError):
    """A sealed reply that does not open with the request's key (changed, or another's)."""
    code = "bad_sealed_reply"

    def __init__(self, detail: str) -> None:
        Refused.__init__(self, type(self).code, detail)


def new_key() -> str:
    """A fresh key as the command's `key` argument (32 bytes, base64url without padding)."""
    return _text(secrets.token_bytes(KEY_BYTES))


def seal(key: str, secret: str, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = ChaCha20Poly1305(_key(key)).encrypt(nonce, secret.encode("utf-8"), _aad(context))
    return _text(nonce + sealed)


def open_sealed(key: str, sealed: object, context: str) -> str:
    """The secret, or SealedReplyError."""
    if not isinstance(sealed, str) or not 0 < len(sealed) <= MAX_SEALED_CHARS:
        raise SealedReplyError("no sealed reply, or one too long")
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        plain = ChaCha20Poly1305(_key(key)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                                    _aad(context))
        return plain.decode("utf-8")
    except (binascii.Error, InvalidTag, UnicodeDecodeError, ValueError):
        raise SealedReplyError("the sealed reply does not open with this request's key") from None


def _key(text: str) -> bytes:
    if not isinstance(text, str) or not KEY_TEXT.fullmatch(text):
        raise SealedReplyError(f"a key is {KEY_BYTES} bytes in base64url without padding")
    return base64.urlsafe_b64decode(text + "=")


def _aad(context: str) -> bytes:
    return DOMAIN + context.encode("utf-8")


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
