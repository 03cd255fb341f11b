"""Account names, passwords and secrets: what is accepted, how each is kept.

Names are robot_dog/person_names.py's (王警官 is a name): the rule an officer's name on the dog
follows too. They go into signed commands (the envelope's `issuer`), logs and pages, where they
are escaped, never trusted as markup.

Passwords are 1 to MAX_PASSWORD_BYTES bytes of UTF-8 (a 100 KB password is refused before it is
hashed: argon2 would take it, but a flood of them is a cheap way to burn the station's CPU) and
are kept as argon2id hashes (argon2-cffi). ARGON2 holds the parameters: chosen so one verify
costs at most 100 ms of CPU here (bench/bench_accounts_login.py measures it).

Session ids and API tokens are 256 random bits: they are kept as SHA-256 digests (a slow hash
adds nothing to a secret that cannot be guessed) so a copy of the database logs no one in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from robot_dog.person_names import MAX_NAME_CHARS as MAX_NAME_CHARS  # (access.py)
from robot_dog.person_names import check_person_name
from robot_dog.person_names import shown as shown  # (access.py)
from robot_dog.station.accounts.errors import BadName, BadPassword

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 1024
#: argon2id with OWASP's first recommended setting: 2 passes over 19 MiB, one lane (a login
#: takes one core, the other keeps serving). docs/BENCHMARKS.md has its measured cost here.
ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_LANES = 2, 19 * 1024, 1
ARGON2 = {"time_cost": ARGON2_TIME_COST, "memory_cost": ARGON2_MEMORY_KIB,
          "parallelism": ARGON2_LANES, "hash_len": 32, "salt_len": 16}
TOKEN_PREFIX = "rdt_"

_HASHER = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_LANES, hash_len=32, salt_len=16, type=Type.ID)
#: Verified against when the name is unknown, so an unknown name costs what a known one does.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def check_name(name: object) -> str:
    """The account name, normalised (NFC), or BadName."""
    try:
        return check_person_name(name)
    except ValueError as exc:
        raise BadName(str(exc).replace("a name", "an account name", 1)) from None


def check_password(password: object, *, new: bool = False) -> str:
    """The password if it may be checked (or, `new`, set), else BadPassword."""
    if not isinstance(password, str) or not password:
        raise BadPassword("the password is empty")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise BadPassword(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    if new and len(password) < MIN_PASSWORD_CHARS:
        raise BadPassword(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if new and any(unicodedata.category(c) == "Cs" for c in password):
        raise BadPassword("the password is not valid text (a lone surrogate)")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password, new=True))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such account; the time is spent anyway)."""
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters (before ARGON2 changed): re-hash at the next login."""
    return _HASHER.check_needs_rehash(stored)


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How a session id or API token is kept: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_for(session_id: str) -> str:
    """The session's CSRF token: derived from the session id (never stored; the page gets it
    from the login answer or GET /api/session, which no other site can read)."""
    return hmac.new(session_id.encode(), b"robot-dog csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))
