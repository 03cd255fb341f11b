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
