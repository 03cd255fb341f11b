"""PyAudio streams on devices chosen by name (mono int16 at RATE_HZ, 20 ms buffers).

The one place that touches PortAudio. Errors become AudioDeviceError (a device that
disappears mid-stream raises it from write/read), so callers can make the amplifier safe and
reopen later.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from robot_dog.audio.devices import AudioDeviceError, DeviceMissing, RATE_HZ, pcm_name
from robot_dog.audio.pcm import FRAME_SAMPLES

_LOGGER = logging.getLogger(__name__)
_lock = threading.RLock()
_pa: Any = None


def portaudio() -> Any:
    """The process's PyAudio instance (PortAudio reads the ALSA config once, at the first call)."""
    global _pa
    with _lock:
        if _pa is None:
            import pyaudio
            _route_alsa_and_jack_messages()
            _pa = pyaudio.PyAudio()
        return _pa


_handlers: list[Any] = []   # the C callbacks must outlive every call into the libraries


def _route_alsa_and_jack_messages() -> None:
    """PortAudio probes every ALSA device and a JACK server when it starts; where neither exists
    (CI, containers, the demo on virtual devices) their libraries print about 60 lines of
    errors per process straight to stderr, burying the log. Their own error-handler hooks send
    those lines to this logger at DEBUG instead; our failures still come as AudioDeviceError."""
    import ctypes
    import ctypes.util

    def debug(text: bytes | None) -> None:
        _LOGGER.debug("%s", (text or b"").decode(errors="replace").strip())
    for name, setters, proto, wrap in (
            ("asound", ("snd_lib_error_set_handler",),
             # void handler(const char *file, int line, const char *func, int err, const char *fmt, ...)
             ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                              ctypes.c_char_p),
             lambda _file, _line, _func, _err, fmt: debug(fmt)),
            ("jack", ("jack_set_error_function", "jack_set_info_function"),
             ctypes.CFUNCTYPE(None, ctypes.c_char_p), debug)):
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            lib = ctypes.CDLL(path)
            handler = proto(wrap)
            for setter in setters:
                getattr(lib, setter)(handler)
        except (OSError, AttributeError) as exc:   # another build: its messages stay on stderr
            _LOGGER.debug("cannot route %s messages: %s", name, exc)
            continue
        _handlers.append(handler)


def device_names(direction: str) -> list[str]:
    """Names of the devices that can do `direction` ('input' or 'output')."""
    pa = portaudio()
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    return [info["name"] for info in (pa.get_device_info_by_index(i)
                                      for i in range(pa.get_device_count())) if info[key] > 0]


def find_device(name: str, direction: str) -> int:
    """PyAudio index of the device called `name` (a PulseAudio or ALSA name)."""
    pa = portaudio()
    key = "maxInputChannels" if direction == "input" else "maxOutputChannels"
    wanted = {name, pcm_name(name)}
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if info["name"] in wanted and info[key] > 0:
            return i
    raise DeviceMissing(name, device_names(direction))


class PcmOutput:
    """A blocking output stream: write() takes int16 mono at RATE_HZ.

    `latency_ms` asks for the device buffer. PortAudio's ALSA buffer is two periods (measured:
    480-sample periods give 20 ms, 720 give 30 ms), and a period here is the longest of a 20 ms
    frame, a half, a quarter or an eighth of one that is at most half the latency asked: 20 ms
    up to 39 ms asked, 40 ms from 40 ms. Writers write whole frames, so a period divides every
    write: with 720-sample periods a 960-sample write left the buffer two thirds full after an
    underrun, short of the server's pre-buffer, with less room than a period, and the write hung
    (measured in the megaphone). Periods longer than a frame would also release a writer in
    bursts that the megaphone's jitter buffer cannot ride. A player whose thread can be late (a
    loaded machine) wants more than 20 ms; an underrun is a gap in the sound, nothing worse.

    The buffer is set through PortAudio, never with PULSE_LATENCY_MSEC (it is removed around the
    open). That variable makes libpulse replace the buffer attributes the ALSA pulse plugin
    derives from PortAudio's (server buffer = the ALSA buffer, request size = one period,
    pre-buffer = the start threshold) by the server's defaults: after an underrun the server
    then waited for more data than it held (pre-buffer = its target less its own request size)
    while PortAudio waited for a whole period of free room that the server, not playing, never
    freed. The blocking write never returned and the speaker stayed silent for good (provoked
    here by one write 50 ms late, or the daemon stopped for 1 s, in every try; none in 20 such
    faults with the plugin's own attributes: tests/test_audio_devices.py).
    """

    def __init__(self, device: str, latency_ms: int = 20) -> None:
        import pyaudio
        self.device = device
        period = next((FRAME_SAMPLES // d for d in (1, 2, 4) if FRAME_SAMPLES // d * 2000
                       <= latency_ms * RATE_HZ), FRAME_SAMPLES // 8)
        with _lock:
            saved = os.environ.pop("PULSE_LATENCY_MSEC", None)
            try:
                self._stream = portaudio().open(
                    format=pyaudio.paInt16, channels=1, rate=RATE_HZ, output=True,
                    output_device_index=find_device(device, "output"), frames_per_buffer=period)
            except OSError as exc:
                raise AudioDeviceError(f"cannot open {device!r} for output: {exc}") from exc
            finally:
                if saved is not None:
                    os.environ["PULSE_LATENCY_MSEC"] = saved

    @property
    def latency_s(self) -> float:
        """The device buffer PortAudio reports, s."""
        return float(self._stream.get_output_latency())

    def write(self, samples: np.ndarray) -> None:
        try:
            self._stream.write(np.asarray(samples, dtype=np.int16).tobytes())
        except OSError as exc:
            raise AudioDeviceError(f"{self.device!r} failed while playing: {exc}") from exc

    def close(self) -> None:
        try:
            self._stream.stop_stream()
            self._stream.close()
        except OSError:
            pass  # the device is gone already


class PcmInput:
    """A blocking input stream: read() returns int16 mono at RATE_HZ, `frames` samples."""

    def __init__(self, device: str) -> None:
        import pyaudio
        self.device = device
        try:
            self._stream = portaudio().open(
                format=pyaudio.paInt16, channels=1, rate=RATE_HZ, input=True,
                input_device_index=find_device(device, "input"), frames_per_buffer=FRAME_SAMPLES)
        except OSError as exc:
            raise AudioDeviceError(f"cannot open {device!r} for input: {exc}") from exc

    def read(self, frames: int = FRAME_SAMPLES) -> np.ndarray:
        try:
            data = self._stream.read(frames, exception_on_overflow=False)
        except OSError as exc:
            raise AudioDeviceError(f"{self.device!r} failed while recording: {exc}") from exc
        return np.frombuffer(data, dtype=np.int16).copy()

    def backlog(self) -> int:
        """Samples recorded and not read yet: how far behind the live edge the last read was."""
        try:
            return int(self._stream.get_read_available())
        except OSError:
            return 0

    def close(self) -> None:
        try:
            self._stream.stop_stream()
            self._stream.close()
        except OSError:
            pass
