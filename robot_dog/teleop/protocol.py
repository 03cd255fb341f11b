"""The handheld's WebSocket protocol (pure, sans-I/O): text frames in, checked requests out.

Every frame is a JSON object of at most 512 bytes: {"t": TYPE, "seq": N, ...}, `seq` strictly
increasing per connection (a stale or duplicated frame is refused), parsed by the one strict
decoder for input from outside (no duplicate keys, no NaN, bounded nesting). Types and fields:

  pair {code}            the one-time code printed by the dog -> {"t":"paired","token":...}
  hello {token}          resume as the paired handheld (after a reload)
  drive {x, z}           joystick held: x forward, z turn left, each in [-1, 1] of the speed cap
  stop                   joystick released (deadman): zero now
  beat                   heartbeat, >= 5 Hz while paired (the page sends 10 Hz; every 5 s before)
  estop | release        engage / release the handheld's e-stop hold
  mode {mode}            stand | sit | damp
  speed {crowd}          crowd mode on/off
  light {on} | siren {on} | searchlight {on}
  record {on}            the officer's Record button: start / stop the bodycam recorder
  resume                 the paused patrol may drive again (the restart interlock's motion/resume)
  cancel                 end the patrol node's current goal or route where the dog stands
  leave                  the officer is done: leave the e-stop watch cleanly
  talk {on}              push-to-talk pressed / released
  task {incident, state} the officer's answer to the station's task: accepted | on_scene | done
  unpair                 the officer signs out: the pairing ends, no officer is paired

Binary frames are push-to-talk audio: signed 16-bit little-endian mono PCM at 16 kHz, an even
number of bytes up to 8,192 (256 ms), accepted only between `talk on` and `talk off`.

Frames arrive at most `max_rate_hz` (token bucket); bad frames are refused with a stable code and
a reason, and the connection stays open; only `pair`, `hello` and `beat` (echoed, it keeps a
page that is still typing its code connected) are accepted before pairing.
Refusals never repeat the value of a secret field (`code`, `token`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from robot_dog.mqtt.schema import SchemaError, strict_loads
from robot_dog.teleop.errors import HandheldRefused

MAX_FRAME_BYTES = 512
MAX_AUDIO_BYTES = 8192
AUDIO_RATE_HZ = 16000
TYPES = {"pair": {"code": str}, "hello": {"token": str}, "drive": {"x": float, "z": float},
         "stop": {}, "beat": {}, "estop": {}, "release": {}, "mode": {"mode": str},
         "speed": {"crowd": bool}, "light": {"on": bool}, "siren": {"on": bool},
         "searchlight": {"on": bool}, "leave": {}, "talk": {"on": bool}, "record": {"on": bool},
         "resume": {}, "cancel": {}, "task": {"incident": str, "state": str}, "unpair": {}}
OPEN = ("pair", "hello", "beat")   # allowed before pairing (a beat is only echoed then)
SECRET_FIELDS = ("code", "token")   # never echoed in a refusal (refusals are logged)


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
        """The request in `frame`, or HandheldRefused with the reason (the connection stays open)."""
        self._tokens = min(self.burst, self._tokens + (0 if self._stamp is None else
                                                      (now - self._stamp) * self.max_rate_hz))
        self._stamp = now
        if self._tokens < 1:
            raise HandheldRefused("too_fast", f"more than {self.max_rate_hz:g} frames/s: frame dropped")
        self._tokens -= 1
        if isinstance(frame, bytes):
            if not frame or len(frame) > MAX_AUDIO_BYTES or len(frame) % 2:
                raise HandheldRefused("bad_audio", f"audio frame of {len(frame)} bytes: "
                                      f"want an even 2..{MAX_AUDIO_BYTES}")
            return Request("audio", self.last_seq, {"pcm": frame})
        raw = frame.encode(errors="surrogatepass")
        if len(raw) > MAX_FRAME_BYTES:
            raise HandheldRefused("too_large", f"frame of {len(raw)} bytes > {MAX_FRAME_BYTES}")
        try:
            doc = strict_loads(raw, MAX_FRAME_BYTES, "frame")
        except SchemaError as exc:
            raise HandheldRefused("not_json", "not JSON: " + exc.reason.removeprefix(
                "not valid JSON: ")) from None
        if not isinstance(doc, dict):
            raise HandheldRefused("not_json", "a frame is a JSON object")
        kind, seq = doc.get("t"), doc.get("seq")
        if kind not in TYPES:
            raise HandheldRefused("unknown_type", f"unknown frame type {_short(kind)}")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise HandheldRefused("bad_seq", f"seq must be a non-negative integer, got {_short(seq)}")
        args = {}
        for name, typ in TYPES[kind].items():
            value = doc.get(name)
            shown = "(not shown)" if name in SECRET_FIELDS else _short(value)
            if typ is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not math.isfinite(value) or not -1.0 <= value <= 1.0:
                    raise HandheldRefused("bad_field", f"{kind}.{name} must be a number in [-1, 1], "
                                          f"got {shown}")
                value = float(value)
            elif not isinstance(value, typ) or (typ is str and len(value) > 64):
                raise HandheldRefused("bad_field", f"{kind}.{name} must be {typ.__name__}"
                                      f"{' of at most 64 characters' if typ is str else ''}, got {shown}")
            args[name] = value
        extra = set(doc) - {"t", "seq", *TYPES[kind]}
        if extra:
            raise HandheldRefused("bad_field", f"unexpected fields in {kind}: "
                                  f"{', '.join(sorted(extra))[:40]}")
        if seq <= self.last_seq:
            raise HandheldRefused("stale_seq", f"stale or duplicated frame: seq {seq} after {self.last_seq}")
        self.last_seq = seq
        return Request(kind, seq, args)


def _short(value: Any) -> str:
    """repr of an offending value, cut to 40 characters (refusals go to the page and the log)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
