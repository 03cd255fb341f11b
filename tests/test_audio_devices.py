"""The PulseAudio helper: own daemon, named devices, idempotent, PyAudio by name, tone round trip."""
from __future__ import annotations

import numpy as np
import pytest

from robot_dog.audio import devices
from robot_dog.audio.stream import PcmOutput, find_device
from tests.fixtures.audio import MonitorRecorder, loud_seconds
from tests.support import wait_for


def test_devices_exist_once_and_helper_is_idempotent(virtual_audio: devices.VirtualAudio) -> None:
    again = devices.ensure_virtual_devices(virtual_audio.runtime_dir)
    assert not again.started_here  # the running daemon was reused
    sinks, sources = devices.list_devices(virtual_audio.runtime_dir)
    assert sinks.count(devices.SPEAKER_SINK) == 1 and sinks.count(devices.STREET_SINK) == 1
    assert sources.count(devices.MIC_SOURCE) == 1 and devices.SPEAKER_MONITOR in sources
    assert devices.daemon_running(virtual_audio.runtime_dir)


def test_own_daemon_lives_in_the_runs_directory(virtual_audio, tmp_path_factory) -> None:
    assert str(virtual_audio.runtime_dir).startswith(str(tmp_path_factory.getbasetemp()))
    assert virtual_audio.socket.is_socket()


def test_unknown_device_names_what_exists(virtual_audio) -> None:
    with pytest.raises(devices.DeviceMissing) as info:
        find_device("no_such_speaker", "output")
    assert devices.pcm_name(devices.SPEAKER_SINK) in info.value.available


def test_one_second_tone_comes_back_whole_from_the_monitor(virtual_audio) -> None:
    recorder = MonitorRecorder()
    out = PcmOutput(devices.SPEAKER_SINK)
    try:
        t = np.arange(devices.RATE_HZ) / devices.RATE_HZ
        out.write((0.5 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
        out.write(np.zeros(devices.RATE_HZ // 5, np.int16))  # flush the tail through
        wait_for(lambda: loud_seconds(recorder.samples()) >= 0.95, "the tone at the monitor",
                 timeout_s=10)
    finally:
        out.close()
        samples = recorder.stop()
    assert loud_seconds(samples) == pytest.approx(1.0, abs=0.05)
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    assert np.fft.rfftfreq(len(samples), 1 / devices.RATE_HZ)[spectrum.argmax()] == pytest.approx(1000, abs=5)


def test_mic_source_hears_the_street_sink(virtual_audio) -> None:
    recorder = MonitorRecorder(devices.MIC_SOURCE)
    out = PcmOutput(devices.STREET_SINK)
    try:
        t = np.arange(devices.RATE_HZ // 2) / devices.RATE_HZ
        out.write((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
        wait_for(lambda: loud_seconds(recorder.samples()) >= 0.4, "street audio at the mic",
                 timeout_s=10)
    finally:
        out.close()
        recorder.stop()


def _doctor(env: dict[str, str]) -> str:
    import os
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "robot_dog.cli", "doctor"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout


def test_doctor_reports_the_daemon_and_devices(virtual_audio) -> None:
    line = next(l for l in _doctor(virtual_audio.environ()).splitlines() if "audio devices" in l)
    assert line.startswith("[ok  ]") and devices.MIC_SOURCE in line and str(virtual_audio.socket) in line


@pytest.mark.slow
def test_doctor_says_when_no_daemon_runs(tmp_path) -> None:
    out = _doctor({devices.DIR_VARIABLE: str(tmp_path)})
    assert f"[info] audio devices: no PulseAudio daemon on {tmp_path / 'native'}" in out


class _Player:
    """Writes a 1 kHz tone 20 ms at a time in a thread, as the megaphone's output loop does;
    `late_s` makes it late before each write (a descheduled thread on a loaded machine)."""

    def __init__(self, out: PcmOutput) -> None:
        import threading
        self.out, self.writes, self.late_s, self.error = out, 0, 0.0, ""
        t = np.arange(960) / devices.RATE_HZ
        self._frame = (0.3 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import time
        while not self._stop.is_set():
            if self.late_s:
                time.sleep(self.late_s)
            try:
                self.out.write(self._frame)
            except devices.AudioDeviceError as exc:
                self.error = str(exc)
                return
            self.writes += 1

    def stop(self) -> bool:
        """True when the thread ended (a write stuck for good keeps it)."""
        self._stop.set()
        self.thread.join(timeout=5)
        return not self.thread.is_alive()


def test_a_late_writer_or_a_stalled_server_never_hangs_the_speaker(virtual_audio) -> None:
    """The stall that silenced the megaphone for good: after an underrun the blocking write never
    returned (with PULSE_LATENCY_MSEC set, one write 50 ms late did it in every try). Provoked
    here with late writes and with the daemon stopped for a second; each time the writes go on
    and the tone is heard again at the monitor."""
    import os
    import signal
    import time
    out = PcmOutput(devices.SPEAKER_SINK, latency_ms=40)      # the megaphone's default
    assert out.latency_s == pytest.approx(0.040, abs=0.005)
    player = _Player(out)
    daemon = int((virtual_audio.runtime_dir / "pid").read_text().split()[0])
    faults = [("late", 0.06), ("late", 0.15), ("stopped", 1.0), ("late", 0.06), ("stopped", 0.5)]
    ended = False
    try:
        wait_for(lambda: player.writes >= 25, "the first writes", timeout_s=30)
        for kind, seconds in faults:
            if kind == "late":
                player.late_s = seconds
                time.sleep(1.0)
                player.late_s = 0.0
            else:
                os.kill(daemon, signal.SIGSTOP)
                try:
                    time.sleep(seconds)
                finally:
                    os.kill(daemon, signal.SIGCONT)
            before = player.writes
            wait_for(lambda before=before: player.writes >= before + 50 or player.error,
                     f"writes going on after the speaker's {kind} ({seconds} s)", timeout_s=30)
            assert not player.error
        recorder = MonitorRecorder()
        try:
            wait_for(lambda: loud_seconds(recorder.samples()) >= 0.5, "the tone after the faults",
                     timeout_s=30)
        finally:
            recorder.stop()
    finally:
        ended = player.stop()
        if ended:
            out.close()       # a stuck stream cannot be closed: its thread would hang here too
    assert ended, "a write to the speaker never returned"


def test_the_base_config_keeps_alsa_but_loads_no_plugin_pcms() -> None:
    system = devices._SYSTEM_ALSA.read_text()
    base = devices.without_plugin_hooks(system)
    assert "/etc/alsa/conf.d" in system and "/etc/alsa/conf.d" not in base
    assert "~/.asoundrc" not in base  # a user's file cannot change the virtual devices either
    assert "cards.@hooks" in base and "pcm.default" in base  # the rest stays whole
    assert len(system) - len(base) < 600


_PORTAUDIO_LIBRARIES = """
import json, os, sys
from robot_dog.audio.stream import device_names
names = device_names("input")
maps = open(f"/proc/{os.getpid()}/maps").read()
print(json.dumps({"inputs": names, "plugins": sorted({line.rsplit("/", 1)[-1] for line in maps.splitlines()
                                                      if "libasound_module" in line or "libavcodec" in line})}))
"""


@pytest.mark.slow  # a fresh interpreter: PortAudio reads the ALSA config once per process
def test_portaudio_opens_the_virtual_devices_without_loading_every_alsa_plugin(virtual_audio) -> None:
    """PortAudio probes each PCM of the config at start: with the system's conf.d it loaded
    libavcodec (a52, lavrate), libjack and a dozen plugins into every audio node."""
    import json
    import os
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _PORTAUDIO_LIBRARIES], capture_output=True, text=True,
                         env={**os.environ, **virtual_audio.environ()}, timeout=60, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert devices.pcm_name(devices.MIC_SOURCE) in report["inputs"]
    assert devices.pcm_name(devices.SPEAKER_MONITOR) in report["inputs"]
    assert report["plugins"] == ["libasound_module_pcm_pulse.so"]
