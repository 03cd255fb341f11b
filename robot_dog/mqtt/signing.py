"""Signed commands, sans-I/O: the station signs with the dog's Ed25519 key, the dog verifies.

Why: the broker ACL keeps honest clients in their lanes, but a compromised broker (or a stolen
station password) can publish anything on cmd/. A signature over the whole envelope, bound to
one dog, one verb, a short validity window and a single-use nonce means such a publisher can
only drop commands, never forge, redirect, prolong or replay them.

Envelope (schema `command`):  {v, dog, verb, args, issued_at, expires_at, nonce, issuer, sig}
  issued_at/expires_at: integer ms since the Unix epoch (integers: no float formatting in the
  signed bytes). sig: base64url(Ed25519(DOMAIN + canonical JSON of every other field)).
Canonical JSON: UTF-8, keys sorted, no whitespace, no NaN; numbers in args are written the way
Python's json writes them (a non-Python signer must match, or keep args to ints and strings).

No clocks, sockets or files inside: time comes in as `now` (s since the Unix epoch), keys come
in as objects. `CommandVerifier` bundles key, replay cache and an injectable clock for the node.
"""
from __future__ import annotations

from robot_dog.errors import Refused

import base64
import heapq
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from robot_dog.mqtt import schema, topics
from robot_dog.mqtt.errors import MqttLinkError

_LOGGER = logging.getLogger(__name__)

VERSION = 1
#: Domain separation: these bytes are never a valid signature input for anything else we sign.
DOMAIN = b"robot-dog/patrol/v1/cmd\n"
DEFAULT_TTL_S = 10.0
#: Longest validity a dog accepts; bounds how long (and so how many) nonces it must remember.
MAX_TTL_S = 300.0
#: Accepted clock difference between station and dog, both ways, s.
DEFAULT_SKEW_S = 2.0
DEFAULT_REPLAY_ENTRIES = 10_000


# --- errors: one class per reason, each with a stable code for cmd/result and logs -------------
class CommandRejected(MqttLinkError, Refused):
    """The dog refuses a command. `code` is stable (it goes into cmd/result and dashboards)."""
    code = "rejected"

    def __init__(self, detail: str = "") -> None:
        Refused.__init__(self, type(self).code, detail)


class Malformed(CommandRejected):
    code = "malformed"


class WrongDog(CommandRejected):
    code = "wrong_dog"


class WrongVerb(CommandRejected):
    code = "wrong_verb"


class BadSignature(CommandRejected):
    code = "bad_signature"


class TtlTooLong(CommandRejected):
    code = "ttl_too_long"


class NotYetValid(CommandRejected):
    code = "not_yet_valid"


class Expired(CommandRejected):
    code = "expired"


class Stale(CommandRejected):
    """Issued before the verifier started: its nonce memory was lost in the restart."""
    code = "stale"


class Replayed(CommandRejected):
    code = "replayed"


class ReplayCacheFull(CommandRejected):
    """More live nonces than the cache holds: refusing is safe, forgetting one would not be."""
    code = "replay_cache_full"


# --- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    """A verified command. Times in ms since the Unix epoch."""
    dog: str
    verb: str
    args: Mapping[str, Any]
    issued_at: int
    expires_at: int
    nonce: str
    issuer: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(fields: Mapping[str, Any], domain: bytes = DOMAIN) -> bytes:
    """The exact bytes that are signed: `domain` + canonical JSON of the fields without `sig`."""
    body = {k: v for k, v in fields.items() if k != "sig"}
    return domain + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               allow_nan=False).encode("utf-8")


def new_nonce() -> str:
    """128 random bits, base64url (22 characters)."""
    return _b64(secrets.token_bytes(16))


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# --- station side --------------------------------------------------------------------------------
def sign(key: Ed25519PrivateKey, *, dog: str, verb: str, args: Mapping[str, Any], now: float,
         issuer: str, ttl_s: float = DEFAULT_TTL_S, nonce: str | None = None) -> bytes:
    """Build, sign and encode a command envelope for `dog`. `now` in s since the Unix epoch."""
    topics.check_dog(dog)
    topics.check_verb(verb)
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S}], got {ttl_s}")
    issued = _ms(now)
    fields: dict[str, Any] = {
        "v": VERSION, "dog": dog, "verb": verb, "args": dict(args), "issued_at": issued,
        "expires_at": issued + _ms(ttl_s), "nonce": nonce or new_nonce(), "issuer": issuer,
    }
    fields["sig"] = _b64(key.sign(canonical(fields)))
    return schema.encode("command", fields)


# --- dog side ------------------------------------------------------------------------------------
@dataclass
class ReplayCache:
    """Remembers each accepted nonce until its command could no longer be accepted anyway.

    Bounded: at most `max_entries` live nonces (with MAX_TTL_S that is a command rate limit of
    max_entries / MAX_TTL_S per second, far above what a station sends). Memory only: after a
    restart, `CommandVerifier` refuses commands issued before it started (code "stale").
    """
    max_entries: int = DEFAULT_REPLAY_ENTRIES
    _until: dict[str, int] = field(default_factory=dict)
    _heap: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._until)

    def purge(self, now_ms: int) -> None:
        while self._heap and self._heap[0][0] < now_ms:
            _, nonce = heapq.heappop(self._heap)
            self._until.pop(nonce, None)

    def seen(self, nonce: str, now_ms: int) -> bool:
        self.purge(now_ms)
        return nonce in self._until

    def remember(self, nonce: str, until_ms: int, now_ms: int) -> None:
        self.purge(now_ms)
        if len(self._until) >= self.max_entries:
            raise ReplayCacheFull(f"{len(self._until)} live nonces; refusing until some expire")
        self._until[nonce] = until_ms
        heapq.heappush(self._heap, (until_ms, nonce))


def verify(payload: bytes, *, dog: str, public_key: Ed25519PublicKey, now: float,
           replay: ReplayCache, verb: str | None = None, skew_s: float = DEFAULT_SKEW_S,
           max_ttl_s: float = MAX_TTL_S, not_before: float | None = None) -> Command:
    """Check a received envelope for `dog` and return the Command, or raise CommandRejected.

    `verb` is the verb from the topic, if known: the signed verb must match it. `not_before`
    (s) refuses commands issued earlier (restart). A nonce is recorded only when every other
    check passed, so a rejected command cannot burn the nonce of a genuine one.
    """
    try:
        env = schema.decode("command", payload)
    except schema.SchemaError as exc:
        raise Malformed(str(exc)) from None
    if env["dog"] != dog:
        raise WrongDog(f"command is for {env['dog']!r}, this is {dog!r}")
    if verb is not None and env["verb"] != verb:
        raise WrongVerb(f"signed verb {env['verb']!r} arrived on cmd/{verb}")
    try:
        public_key.verify(_unb64(env["sig"]), canonical(env))
    except (InvalidSignature, ValueError):
        raise BadSignature(f"signature does not verify with {dog}'s command key") from None
    now_ms, skew_ms = _ms(now), _ms(skew_s)
    issued, expires = env["issued_at"], env["expires_at"]
    if expires < issued:
        raise Malformed("expires_at is before issued_at")
    if expires - issued > _ms(max_ttl_s):
        raise TtlTooLong(f"validity {(expires - issued) / 1000:.1f} s exceeds {max_ttl_s:.0f} s")
    if issued > now_ms + skew_ms:
        raise NotYetValid(f"issued {(issued - now_ms) / 1000:.1f} s in the future (skew {skew_s} s)")
    if now_ms > expires + skew_ms:
        raise Expired(f"expired {(now_ms - expires) / 1000:.1f} s ago")
    if not_before is not None and issued < _ms(not_before) - skew_ms:
        raise Stale("issued before this verifier started; nonces from then are not remembered")
    if replay.seen(env["nonce"], now_ms):
        raise Replayed(f"nonce {env['nonce']} already used")
    replay.remember(env["nonce"], expires + skew_ms, now_ms)
    return Command(dog=env["dog"], verb=env["verb"], args=env["args"], issued_at=issued,
                   expires_at=expires, nonce=env["nonce"], issuer=env["issuer"])


class CommandVerifier:
    """The dog's verifier: its public key, a replay cache and a clock (injectable for tests)."""

    def __init__(self, dog: str, public_key: Ed25519PublicKey, *,
                 clock: Callable[[], float] = time.time, skew_s: float = DEFAULT_SKEW_S,
                 max_ttl_s: float = MAX_TTL_S, replay: ReplayCache | None = None):
        self.dog = topics.check_dog(dog)
        self._key, self._clock = public_key, clock
        self._skew_s, self._max_ttl_s = skew_s, max_ttl_s
        self.replay = replay if replay is not None else ReplayCache()
        self.started_at = clock()

    def verify(self, payload: bytes, verb: str | None = None) -> Command:
        return verify(payload, dog=self.dog, public_key=self._key, now=self._clock(),
                      replay=self.replay, verb=verb, skew_s=self._skew_s,
                      max_ttl_s=self._max_ttl_s, not_before=self.started_at)


# --- keys (PEM files written by robot_dog.fleet) -------------------------------------------------
def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """An Ed25519 private key in PEM: the station's command key for a dog, a dog's result key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def load_verify_key(path: str | Path) -> Ed25519PublicKey:
    """An Ed25519 public key in PEM: a dog's command.pub, the station's copy of a result key."""
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key
