"""Command dispatch: sign with the dog's command key, record the audit row, publish, await result.

The audit log (storage `commands`) holds who (issuer), what (verb, args), to which dog, when
(issued_at), and the outcome from the dog's cmd/result (code, ok, message, result_at), matched
by nonce. The row is written before the command is published, so no command leaves unaudited.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from robot_dog.mqtt import signing, topics
from robot_dog.station.storage import CommandRow, Storage

_LOGGER = logging.getLogger(__name__)

DEFAULT_TTL_S = 10.0


class DispatchError(Exception):
    """A command that cannot be sent; `status` is the HTTP status the API answers with."""
    status = 400


class UnknownDog(DispatchError):
    status = 404


class BadCommand(DispatchError):
    status = 400


class LinkDown(DispatchError):
    status = 503


class Dispatcher:
    def __init__(self, keys_dir: Path | None, publish: Callable[[str, bytes, int], int],
                 storage: Storage, *, clock: Callable[[], float] = time.time,
                 ttl_s: float = DEFAULT_TTL_S) -> None:
        self.keys_dir, self._publish, self.storage = keys_dir, publish, storage
        self._clock, self.ttl_s = clock, ttl_s
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._arrived = threading.Condition()

    def _key(self, dog: str) -> Ed25519PrivateKey:
        if dog not in self._keys:
            path = self.keys_dir / f"{dog}.key" if self.keys_dir else None
            if path is None or not path.exists():
                raise UnknownDog(f"no command key for {dog!r} in the fleet directory")
            self._keys[dog] = signing.load_signing_key(path)
        return self._keys[dog]

    def send(self, dog: str, verb: str, args: Mapping[str, Any], issuer: str) -> str:
        """Sign, audit and publish; return the nonce to wait on."""
        try:
            topics.check_dog(dog)
            topics.check_verb(verb)
        except topics.TopicError as exc:
            raise BadCommand(str(exc)) from None
        key, now, nonce = self._key(dog), self._clock(), signing.new_nonce()
        try:
            payload = signing.sign(key, dog=dog, verb=verb, args=args, now=now, issuer=issuer,
                                   ttl_s=self.ttl_s, nonce=nonce)
        except (ValueError, TypeError) as exc:  # schema (args too big, bad issuer) or JSON
            raise BadCommand(str(exc)) from None
        self.storage.put(CommandRow(nonce, dog, verb, dict(args), issuer, now))
        try:
            self._publish(topics.cmd(dog, verb), payload, 1)
        except Exception as exc:  # noqa: BLE001  (NotConnected, LinkError: same answer)
            self.on_result({"nonce": nonce, "code": "not_sent", "ok": False, "dog": dog,
                            "message": str(exc)})
            raise LinkDown(f"command not sent: {exc}") from None
        _LOGGER.info("command %s -> %s by %s (nonce %s)", verb, dog, issuer, nonce)
        return nonce

    def on_result(self, doc: Mapping[str, Any]) -> None:
        """A cmd/result arrived (MQTT thread): wake whoever waits for it."""
        nonce = doc.get("nonce")
        if not nonce:
            return
        with self._arrived:
            self._results[nonce] = dict(doc)
            while len(self._results) > 1000:  # results nobody waited for
                self._results.pop(next(iter(self._results)))
            self._arrived.notify_all()

    def wait(self, nonce: str, timeout_s: float) -> dict[str, Any] | None:
        with self._arrived:
            self._arrived.wait_for(lambda: nonce in self._results, timeout_s)
            return self._results.get(nonce)
