"""The station's half of two-way talk: dogs' `audio/mic` Opus packets -> PCM that the web page
reads; the page's PCM -> Opus packets on the dog's `cmd/voice` (the dog plays them only inside a
signed `talk` window, which the page opens with the `talk` command).

Talk windows belong to the operator who opened them: `command_args` gives each window a fresh
id and key (robot_dog/mqtt/talk_seal.py) that ride in the signed `talk` command; while it is
open, another operator's `talk` is refused (`talk_busy`) and so is voice from anyone but its
opener (`not_your_talk_window`); voice without an open window is refused before anything is
allocated (`no_talk_window`), so posts for invented dogs grow nothing. Every operator may close
a window (`talk` with 0 s): silencing is always allowed.

PCM on the HTTP side is s16le, 48 kHz, mono: the page converts with Web Audio, no codec needed in
the browser. Mic audio is kept for MIC_KEEP_S per dog and read by sample cursor, so a polling
page neither misses nor repeats audio (a page that falls behind skips to what is kept).

numpy and PyAV (the codec) load when a dog's mic audio or a talk window first comes, not when
the station starts: a station nobody talks through does without their ~36 MB.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from robot_dog.audio import opus
from robot_dog.audio.devices import FRAME_SAMPLES, RATE_HZ
from robot_dog.mqtt import topics
from robot_dog.mqtt.talk_seal import WindowKey, seal
from robot_dog.station.dispatch import DispatchError
from robot_dog.uplink.commands import MAX_AUDIO_WINDOW_S

if TYPE_CHECKING:
    import numpy as np

_LOGGER = logging.getLogger(__name__)

MIC_KEEP_S = 5.0
VOICE_EXPIRY_S = 2.0
#: Largest PCM body one voice POST carries (1 s at 48 kHz, int16).
MAX_VOICE_BYTES = RATE_HZ * 2


def _no_samples() -> np.ndarray:
    import numpy as np   # on first use of talk (module docstring)
    return np.zeros(0, np.int16)


class _MicStream:
    def __init__(self) -> None:
        self.decoder = opus.OpusDecoder()
        self.pcm = _no_samples()
        self.end = 0                      # samples received since the station started


class TalkRefused(DispatchError):
    """A talk window or voice post refused; `code` is stable, `status` the HTTP status."""
    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")  # the HTTP error text starts with the code
        self.code = code


@dataclass
class _TalkWindow:
    """One open talk window of one dog: whose it is, its key, its deadline and its encoder."""
    operator: str
    key: WindowKey
    until: float                                  # monotonic s
    encoder: opus.OpusEncoder = field(default_factory=opus.OpusEncoder)
    pending: np.ndarray = field(default_factory=_no_samples)
    sequence: int = 0


class TalkRelay:
    def __init__(self, publish: Callable[[str, bytes, int, float], object],
                 wall_ms: Callable[[], int], monotonic: Callable[[], float] = time.monotonic) -> None:
        self._publish, self._wall_ms, self._mono = publish, wall_ms, monotonic
        self._mics: dict[str, _MicStream] = {}
        self._windows: dict[str, _TalkWindow] = {}
        self._lock = threading.Lock()
        self.mic_packets = 0
        self.voice_packets = 0

    # --- dog -> page -----------------------------------------------------------------------------
    def on_mic(self, dog: str, payload: bytes) -> None:
        """MQTT thread; raises opus.OpusError for a bad packet (the caller dead-letters it)."""
        import numpy as np   # loaded with the first stream's decoder: a dict look-up here
        packet = opus.unpack(payload)
        with self._lock:
            stream = self._mics.setdefault(dog, _MicStream())
            samples = stream.decoder.decode(packet.opus)
            keep = int(MIC_KEEP_S * RATE_HZ)
            stream.pcm = np.concatenate([stream.pcm, samples])[-keep:]
            stream.end += samples.size
            self.mic_packets += 1

    def mic_since(self, dog: str, cursor: int) -> tuple[int, bytes]:
        """(new cursor, s16le PCM after `cursor`); cursor < 0 starts at the live edge."""
        with self._lock:
            stream = self._mics.get(dog)
            if stream is None:
                return 0, b""
            if cursor < 0 or cursor > stream.end:
                return stream.end, b""
            start = max(cursor, stream.end - stream.pcm.size)
            return stream.end, stream.pcm[stream.pcm.size - (stream.end - start):].tobytes()

    # --- talk windows --------------------------------------------------------------------------
    def command_args(self, dog: str, verb: str, args: Mapping[str, Any],
                     operator: str) -> dict[str, Any]:
        """The args to sign for a command (Dispatcher hook): a `talk` that opens or refreshes a
        window gets the window's id and key; other verbs pass unchanged. Raises TalkRefused."""
        if verb != "talk":
            return dict(args)
        if set(args) - {"seconds"}:
            raise TalkRefused("bad_args", "talk takes only seconds; the station names the window")
        seconds = args.get("seconds")
        if (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                or seconds > MAX_AUDIO_WINDOW_S):
            return dict(args)  # the dog refuses it with bad_args, on the record; no window
        now = self._mono()
        with self._lock:
            window = self._live_window(dog, now)
            if seconds <= 0:
                self._windows.pop(dog, None)  # anyone may silence the megaphone
                return {"seconds": seconds}
            if window is not None and window.operator != operator:
                raise TalkRefused("talk_busy", f"{window.operator} is talking through {dog}; "
                                  "wait until that window closes")
            if window is None:
                window = self._windows[dog] = _TalkWindow(operator, WindowKey.new(), now)
            window.until = max(window.until, now + float(seconds))
            return {"seconds": seconds, **window.key.args()}

    def _live_window(self, dog: str, now: float) -> _TalkWindow | None:
        window = self._windows.get(dog)
        if window is not None and now >= window.until:
            del self._windows[dog]  # lapsed: its key is never used again
            return None
        return window

    # --- page -> dog -----------------------------------------------------------------------------
    def send_voice(self, dog: str, pcm: bytes, operator: str) -> int:
        """Encode s16le PCM (any length; remainders wait for the next call) and publish the
        packets, sealed for the dog's open talk window, on its cmd/voice (QoS 0, expiry 2 s).
        Only the window's opener may speak. Returns the packets sent; raises TalkRefused."""
        if len(pcm) % 2 or len(pcm) > MAX_VOICE_BYTES:
            raise ValueError(f"PCM body of {len(pcm)} bytes: expected whole int16 samples, "
                             f"at most {MAX_VOICE_BYTES} bytes")
        import numpy as np   # loaded with the window's encoder: a dict look-up here
        sent = 0
        with self._lock:
            window = self._live_window(dog, self._mono())
            if window is None:
                raise TalkRefused("no_talk_window", f"no talk window open on {dog}: send the "
                                  "talk command first")
            if window.operator != operator:
                raise TalkRefused("not_your_talk_window", f"the talk window on {dog} is "
                                  f"{window.operator}'s")
            topic = topics.voice(dog)
            window.pending = np.concatenate([window.pending, np.frombuffer(pcm, "<i2")])
            while window.pending.size >= FRAME_SAMPLES:
                frame, window.pending = (window.pending[:FRAME_SAMPLES],
                                         window.pending[FRAME_SAMPLES:])
                for data in window.encoder.encode(frame.astype(np.int16)):
                    packet = opus.pack(opus.VoicePacket(window.sequence, self._wall_ms(), data))
                    window.sequence = (window.sequence + 1) & 0xFFFFFFFF
                    self._publish(topic, seal(window.key, packet), 0, VOICE_EXPIRY_S)
                    sent += 1
            self.voice_packets += sent
        return sent
