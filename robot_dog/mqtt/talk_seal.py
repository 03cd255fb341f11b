"""Talk packets bound to one talk window, sans-I/O: the station seals each cmd/voice packet
with the window's id and a MAC under the window's key; the dog plays only packets that open.

Why: voice packets are too many to sign (50 a second), and before this any station credential
could inject audio into another operator's window, or replay a recording into a later one. Now:
- the station makes a fresh random key and window id when an operator opens a talk window and
  sends both to the dog inside the signed `talk` command (args `window`, `key`); station users
  cannot read cmd/{verb} (broker ACL), so only the station that opened the window holds the key;
- each packet is `window id (8 bytes) | voice packet (robot_dog.audio.opus: version, sequence,
  capture time, Opus) | tag`, tag = HMAC-SHA256(key, DOMAIN | window id | voice packet)[:16];
- the dog refuses a packet for another window (a recording from an earlier one), a bad tag
  (no key, or changed bytes) and a sequence not above the last one played (a replay inside the
  window): robot_dog.uplink.talk.VoiceIn.
A compromised broker sees the key in the `talk` command (signed, not encrypted) and could speak
inside that window until it closes; it cannot open one, extend one or replay into a later one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from robot_dog.errors import Refused
from robot_dog.mqtt.errors import MqttLinkError

DOMAIN = b"robot-dog/patrol/v1/voice\n"
WINDOW_ID_BYTES = 8
KEY_BYTES = 32
TAG_BYTES = 16
#: `window` and `key` as they appear in the signed `talk` command's args.
WINDOW_ID = re.compile(r"[0-9a-f]{16}")
KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}")


class SealError(MqttLinkError, Refused, ValueError):
    """A packet that does not open; `code` is stable."""
    code = "bad_packet"

    def __init__(self, detail: str = "") -> None:
        Refused.__init__(self, type(self).code, detail)


class WrongWindow(SealError):
    code = "wrong_window"


class BadTag(SealError):
    code = "bad_tag"


@dataclass(frozen=True)
class WindowKey:
    """One talk window: its id (16 hex digits) and its 32-byte MAC key."""
    window: str
    key: bytes

    def __repr__(self) -> str:  # never log the key
        return f"WindowKey(window={self.window!r})"

    @classmethod
    def new(cls) -> WindowKey:
        return cls(secrets.token_hex(WINDOW_ID_BYTES), secrets.token_bytes(KEY_BYTES))

    def args(self) -> dict[str, str]:
        """The `window` and `key` args of the signed `talk` command."""
        return {"window": self.window,
                "key": base64.urlsafe_b64encode(self.key).rstrip(b"=").decode("ascii")}

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> WindowKey:
        window, key = args.get("window"), args.get("key")
        if not isinstance(window, str) or not WINDOW_ID.fullmatch(window):
            raise ValueError(f"window must be {WINDOW_ID_BYTES * 2} lowercase hex digits")
        if not isinstance(key, str) or not KEY_TEXT.fullmatch(key):
            raise ValueError(f"key must be {KEY_BYTES} bytes in base64url without padding")
        return cls(window, base64.urlsafe_b64decode(key + "="))


def _tag(wk: WindowKey, head_and_packet: bytes) -> bytes:
    return hmac.new(wk.key, DOMAIN + head_and_packet, hashlib.sha256).digest()[:TAG_BYTES]


def seal(wk: WindowKey, packet: bytes) -> bytes:
    """cmd/voice payload for one voice packet (robot_dog.audio.opus.pack) in window `wk`."""
    body = bytes.fromhex(wk.window) + packet
    return body + _tag(wk, body)


def open_sealed(wk: WindowKey, payload: bytes) -> bytes:
    """The voice packet inside `payload`, or SealError (WrongWindow, BadTag)."""
    if not isinstance(payload, (bytes, bytearray)) or len(payload) <= WINDOW_ID_BYTES + TAG_BYTES:
        raise SealError(f"voice payload of {len(payload)} bytes is too short to be sealed")
    body, tag = bytes(payload[:-TAG_BYTES]), bytes(payload[-TAG_BYTES:])
    if body[:WINDOW_ID_BYTES].hex() != wk.window:
        raise WrongWindow(f"packet for window {body[:WINDOW_ID_BYTES].hex()}, the open one is "
                          f"{wk.window}")
    if not hmac.compare_digest(tag, _tag(wk, body)):
        raise BadTag("packet tag does not verify with the window's key")
    return body[WINDOW_ID_BYTES:]
