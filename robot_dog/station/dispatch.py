"""Command dispatch: sign with the dog's command key, record the audit row, publish, await result.

The audit log (storage `commands`) holds who (issuer), what (verb, args), to which dog, when
(issued_at), and the outcome: the first cmd/result from the addressed dog (code, ok, message,
result_at), matched by nonce; every answer is also kept as its own entry (`command_results`). The row is written before the command is published, so no command leaves unaudited.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

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
#: A check-in is valid this long: just above the dog's 2 s deadline (a replayed one is refused).
CHECKIN_TTL_S = 3.0


class DispatchError(RobotDogError):
    """A command that cannot be sent; `status` is the HTTP status the API answers with."""
    status = 400


class UnknownDog(DispatchError):
    status = 404


class BadCommand(DispatchError):
    status = 400


class BrokerUnreachable(DispatchError):
    status = 503


class Dispatcher:
    def __init__(self, keys_dir: Path | None, publish: Callable[[str, bytes, int], int],
                 storage: Storage, *, clock: Callable[[], float] = time.time,
                 ttl_s: float = DEFAULT_TTL_S,
                 args_for: Callable[[str, str, Mapping[str, Any], str], dict[str, Any]] | None = None
                 ) -> None:
        # args_for(dog, verb, args, issuer): the args to sign (e.g. the talk relay adds a talk
        # window's key); may raise DispatchError. The audit records them without any `key`.
        self.keys_dir, self._publish, self.storage = keys_dir, publish, storage
        self._args_for = args_for
        self._clock, self.ttl_s = clock, ttl_s
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, str] = {}  # nonce -> the dog it was addressed to (newest 1000)
        self._arrived = threading.Condition()
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def add_listener(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """`callback(nonce, result)` for each first answer, on the thread that delivered it
        (it must not block: the web server hands it to its loop)."""
        self._listeners.append(callback)

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
        if self._args_for is not None:
            args = self._args_for(dog, verb, args, issuer)
        try:
            payload = signing.sign(key, dog=dog, verb=verb, args=args, now=now, issuer=issuer,
                                   ttl_s=self.ttl_s, nonce=nonce)
        except (ValueError, TypeError) as exc:  # schema (args too big, bad issuer) or JSON
            raise BadCommand(str(exc)) from None
        audited = {k: v for k, v in args.items() if k != "key"}  # a secret, never on record
        self.storage.put(CommandRow(nonce, dog, verb, audited, issuer, now))
        with self._arrived:
            self._sent[nonce] = dog
            while len(self._sent) > 1000:
                self._sent.pop(next(iter(self._sent)))
        try:
            self._publish(topics.cmd(dog, verb), payload, 1)
        except Exception as exc:  # noqa: BLE001  (NotConnected, LinkError: same answer)
            self.on_result({"nonce": nonce, "code": "not_sent", "ok": False, "dog": dog,
                            "message": str(exc)}, dog)
            raise BrokerUnreachable(f"command not sent: {exc}") from None
        _LOGGER.info("command %s -> %s by %s (nonce %s)", verb, dog, issuer, nonce)
        return nonce

    def check_in(self, dog: str, issuer: str, ttl_s: float = CHECKIN_TTL_S) -> None:
        """A signed check-in on cmd/checkin (QoS 0: a late heartbeat is worth nothing). Not
        audited: it is the station's heartbeat while it commands the dog, not a command."""
        payload = signing.sign(self._key(dog), dog=dog, verb="checkin", args={}, now=self._clock(),
                               issuer=issuer, ttl_s=ttl_s, nonce=signing.new_nonce())
        self._publish(topics.cmd(dog, "checkin"), payload, 0)

    def on_result(self, doc: Mapping[str, Any], dog: str) -> None:
        """A cmd/result arrived from `dog` (the topic's, checked against the payload; MQTT
        thread): wake whoever waits for it. Only the addressed dog's first answer counts."""
        nonce = doc.get("nonce")
        if not nonce:
            return
        with self._arrived:
            addressed = self._sent.get(nonce)
            if addressed is not None and addressed != dog:
                _LOGGER.warning("security: %s answered command %s addressed to %s; ignored",
                                dog, nonce, addressed)
                return
            if nonce in self._results:
                return  # a later answer (a replay refused as `replayed`): the audit keeps it apart
            self._results[nonce] = dict(doc)
            while len(self._results) > 1000:  # results nobody waited for
                self._results.pop(next(iter(self._results)))
            self._arrived.notify_all()
        for callback in self._listeners:
            callback(nonce, dict(doc))

    def result(self, nonce: str) -> dict[str, Any] | None:
        """The addressed dog's first answer to `nonce`, if it came (never blocks)."""
        with self._arrived:
            return self._results.get(nonce)

    def wait(self, nonce: str, timeout_s: float) -> dict[str, Any] | None:
        with self._arrived:
            self._arrived.wait_for(lambda: nonce in self._results, timeout_s)
            return self._results.get(nonce)
