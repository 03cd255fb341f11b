"""The handheld's WebSocket protocol (pure, sans-I/O): text frames in, checked requests out.

Every frame is a JSON object of at most 512 bytes: {"t": TYPE, "seq": N, ...}, `seq` strictly
increasing per connection (a stale or duplicated frame is refused). Types and fields:

  pair {code}            the one-time code printed by the dog -> {"t":"paired","token":...}
  hello {token}          resume as the paired handheld (after a reload)
  drive {x, z}           joystick held: x forward, z turn left, each in [-1, 1] of the speed cap
  stop                   joystick released (deadman): zero now
  beat                   heartbeat, >= 5 Hz while the page is open (the page sends 10 Hz)
  estop | release        engage / release the handheld's e-stop hold
  mode {mode}            stand | sit | damp
  speed {crowd}          crowd mode on/off
  light {on} | siren {on} | searchlight {on}
  leave                  the officer is done: leave the e-stop watch cleanly
  talk {on}              push-to-talk pressed / released

Binary frames are push-to-talk audio: signed 16-bit little-endian mono PCM at 16 kHz, an even
number of bytes up to 8,192 (256 ms), accepted only between `talk on` and `talk off`.

Frames arrive at most `max_rate_hz` (token bucket); bad frames are refused with a reason and the
connection stays open; only `pair` and `hello` are accepted before pairing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from robot_dog.safety.errors import Refused

MAX_FRAME_BYTES = 512
MAX_AUDIO_BYTES = 8192
AUDIO_RATE_HZ = 16000
TYPES = {"pair": {"code": str}, "hello": {"token": str}, "drive": {"x": float, "z": float},
         "stop": {}, "beat": {}, "estop": {}, "release": {}, "mode": {"mode": str},
         "speed": {"crowd": bool}, "light": {"on": bool}, "siren": {"on": bool},
         "searchlight": {"on": bool}, "leave": {}, "talk": {"on": bool}}
OPEN = ("pair", "hello")   # allowed before pairing


@dataclass(frozen=True)
class Request:
    kind: str
    seq: int
    args: dict[str, Any]


@dataclass
class FrameGate:
    """Checks one connection's frames: size, JSON shape, types, ranges, order, rate."""
    max_rate_hz: float = 60.0
    burst: float = 30.0
    last_seq: int = -1
    _tokens: float = field(init=False, default=30.0)
    _stamp: float | None = field(init=False, default=None)

    def check(self, frame: str | bytes, now: float) -> Request:
        """The request in `frame`, or Refused with the reason (the connection stays open)."""
        self._tokens = min(self.burst, self._tokens + (0 if self._stamp is None else
                                                      (now - self._stamp) * self.max_rate_hz))
        self._stamp = now
        if self._tokens < 1:
            raise Refused(f"more than {self.max_rate_hz:g} frames/s: frame dropped")
        self._tokens -= 1
        if isinstance(frame, bytes):
            if not frame or len(frame) > MAX_AUDIO_BYTES or len(frame) % 2:
                raise Refused(f"audio frame of {len(frame)} bytes: want an even 2..{MAX_AUDIO_BYTES}")
            return Request("audio", self.last_seq, {"pcm": frame})
        if len(frame.encode()) > MAX_FRAME_BYTES:
            raise Refused(f"frame of {len(frame.encode())} bytes > {MAX_FRAME_BYTES}")
        try:
            doc = json.loads(frame)
        except ValueError as exc:
            raise Refused(f"not JSON: {exc.msg}") from None
        if not isinstance(doc, dict):
            raise Refused("a frame is a JSON object")
        kind, seq = doc.get("t"), doc.get("seq")
        if kind not in TYPES:
            raise Refused(f"unknown frame type {kind!r}")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise Refused(f"seq must be a non-negative integer, got {seq!r}")
        args = {}
        for name, typ in TYPES[kind].items():
            value = doc.get(name)
            if typ is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not math.isfinite(value) or not -1.0 <= value <= 1.0:
                    raise Refused(f"{kind}.{name} must be a number in [-1, 1], got {value!r}")
                value = float(value)
            elif not isinstance(value, typ) or (typ is str and len(value) > 64):
                raise Refused(f"{kind}.{name} must be {typ.__name__}, got {value!r}")
            args[name] = value
        extra = set(doc) - {"t", "seq", *TYPES[kind]}
        if extra:
            raise Refused(f"unexpected fields in {kind}: {', '.join(sorted(extra))}")
        if seq <= self.last_seq:
            raise Refused(f"stale or duplicated frame: seq {seq} after {self.last_seq}")
        self.last_seq = seq
        return Request(kind, seq, args)
