"""megaphone_node + payload_node on the virtual MCU, sound recorded back from the speaker's
monitor through real PyAudio streams on the run's own PulseAudio daemon."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import stft

from robot_dog.audio.devices import RATE_HZ
from robot_dog.audio.mixer import db_to_gain
from tests.fixtures.audio import MonitorRecorder, loud_seconds
from tests.support import wait_for

pytestmark = pytest.mark.slow


def amp_on(stack) -> bool:
    return bool(stack.mcu.snapshot()["amp_enabled"])


def band(samples: np.ndarray, hop_s: float = 0.1):
    """(times s, freqs Hz, magnitude) of the recording, 100 ms hops."""
    nper = int(RATE_HZ * hop_s)
    f, t, z = stft(samples.astype(np.float64) / 32768, fs=RATE_HZ, nperseg=nper, noverlap=0)
    return t, f, np.abs(z)


def level_db(f: np.ndarray, mag: np.ndarray, freq: float) -> np.ndarray:
    rows = (f > freq - 30) & (f < freq + 30)
    return 20 * np.log10(mag[rows].max(axis=0) + 1e-9)


def test_english_and_mandarin_announcements_play_with_the_amplifier(megaphone_stack, megaphone) -> None:
    stack = megaphone_stack
    for text, language in (("Attention please. Keep this area clear.", "en"),
                           ("请注意，前方道路封闭，请绕行。", "cmn")):
        recorder = MonitorRecorder()
        feedback: list = []
        try:
            handle = megaphone.send_announce(feedback, text=text, language=language)
            assert megaphone.spin_until(lambda: amp_on(stack), 30), stack.logs()
            result = megaphone.result(handle)
        finally:
            samples = recorder.stop()
        assert result.success, result.message + stack.logs()
        assert "playing" in {f.state for f in feedback}
        assert loud_seconds(samples, threshold=0.02) > 1.0, f"{language}: too little sound"
        assert np.max(np.abs(samples)) / 32768 <= db_to_gain(-1.0) + 1e-3
        # amplifier disabled after the sound (megaphone idles 1 s, then switches it off)
        assert megaphone.spin_until(lambda: not amp_on(stack), 30), stack.logs()


def test_siren_range_period_and_expiry_from_the_recording(megaphone_stack, megaphone) -> None:
    recorder = MonitorRecorder()
    try:
        reply = megaphone.siren("wail", 6.5)    # the cycle's second minimum (5 s) well inside
        assert reply.accepted, reply.message
        # Said on megaphone/siren_active (the bodycam recorder's trigger), on and then off.
        assert megaphone.spin_until(lambda: any(m.data for m in megaphone.siren_states), 30)
        wait_for(lambda: amp_on(megaphone_stack), "amplifier on for the siren", 30)
        wait_for(lambda: not amp_on(megaphone_stack), "amplifier off after the siren expired", 30)
        assert megaphone.spin_until(lambda: not megaphone.siren_states[-1].data, 30)
    finally:
        samples = recorder.stop()
    span = loud_seconds(samples)
    # expired by itself after 6.5 s (nobody sent "off"); less if a loaded machine dropped frames
    assert 5.5 <= span <= 6.6, f"{span} s of siren"
    t, f, mag = band(samples, 0.05)
    loud = mag.max(axis=0) > 0.05 * mag.max()
    dominant, times = f[mag.argmax(axis=0)][loud][2:-2], t[loud][2:-2]
    assert dominant.min() == pytest.approx(500, abs=40)
    assert dominant.max() == pytest.approx(1650, abs=40)
    assert np.all((dominant >= 100) & (dominant <= 5000))
    # one 5 s cycle: from the first minimum up to the top in about 2 s, down again at 5 s
    top = times[dominant.argmax()]
    before, after = times < top, times > top
    start = times[before][dominant[before].argmin()]
    cycle = times[after][dominant[after].argmin()] - start
    assert 1.5 <= top - start <= 2.5 and cycle == pytest.approx(5.0, abs=0.3)
    assert np.max(np.abs(samples)) / 32768 <= db_to_gain(-1.0) + 1e-3


def test_voice_ducks_siren_which_ducks_announcement(megaphone_stack, megaphone) -> None:
    recorder = MonitorRecorder()
    try:
        handle = megaphone.send_announce(clip="tone400", volume=1.0)
        wait_for(lambda: loud_seconds(recorder.samples()) > 0.5, "the clip at the monitor", 30)
        assert megaphone.siren("hilo", 1.6).accepted
        voice = (0.5 * 32767 * np.sin(2 * np.pi * 3000 * np.arange(960) / RATE_HZ)).astype(np.int16)
        seq, start = 0, time.monotonic()
        while time.monotonic() < start + 0.6:
            megaphone.send_voice(seq, voice)
            seq += 1
            megaphone.pace(start, seq)
        result = megaphone.result(handle)
    finally:
        samples = recorder.stop()
    assert result.success, result.message
    t, f, mag = band(samples)
    clip, voice_db = level_db(f, mag, 400), level_db(f, mag, 3000)
    siren = np.maximum(level_db(f, mag, 960), level_db(f, mag, 770))
    heard = np.flatnonzero(voice_db > -30)
    assert heard.size >= 3
    spurt = np.zeros_like(clip, dtype=bool)
    spurt[heard[0] + 1: heard[-1]] = True             # whole 100 ms windows inside the talk
    siren_only = (siren > -30) & (voice_db < -40)
    siren_only &= np.roll(siren_only, 1) & np.roll(siren_only, -1)
    clip_only = (clip > -30) & (siren < -40) & (voice_db < -40)
    assert siren_only.sum() >= 3 and clip_only.sum() >= 5   # before the siren and after it expired
    siren_full, clip_full = np.median(siren[siren_only]), np.median(clip[clip_only])
    # live voice ducks the siren and the announcement; the siren ducks the announcement (-20 dB)
    assert np.all(siren[spurt] < siren_full - 15), (siren[spurt], siren_full)
    assert np.all(clip[spurt] < clip_full - 15)
    assert np.all(clip[siren_only] < clip_full - 15)
    assert np.max(np.abs(samples)) / 32768 <= db_to_gain(-1.0) + 1e-3


def test_officer_and_station_talking_at_once_both_heard_and_the_officer_on_top(
        megaphone_stack, megaphone) -> None:
    """The handheld (3 kHz) and the station (700 Hz) talk at once, each numbering its chunks from
    0 on its own topic (the station began first), then the station alone: on one shared topic
    and buffer the second talker's chunks were dropped as late or duplicates. The officer plays
    at full level over the station ducked by 20 dB; once the officer stops, the station is back
    to full level. The officer joins once the megaphone sounds the station (its amplifier
    answered on): voice held while it switches on is trimmed to the 200 ms latency bound, and
    the first switch after the stack's start took about a second."""
    def tone(freq: float) -> np.ndarray:
        t = np.arange(960) / RATE_HZ
        return (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    assert megaphone.spin_until(lambda: all(p.get_subscription_count() == 1
                                            for p in megaphone.voices.values()), 60), \
        "megaphone_node subscribes each voice topic"
    recorder = MonitorRecorder()
    try:
        seq, start, joined = 0, time.monotonic(), None
        while joined is None or time.monotonic() < joined + 3.0:
            if joined is None and megaphone.active_states and megaphone.active_states[-1].data:
                joined, officer_from = time.monotonic() + 0.3, seq + 15
            if joined is not None and officer_from <= seq and time.monotonic() < joined + 1.5:
                megaphone.send_voice(seq - officer_from, tone(3000), source="handheld")
            megaphone.send_voice(seq, tone(700), source="station")
            seq += 1
            megaphone.pace(start, seq)
            assert joined is not None or time.monotonic() < start + 30, "amplifier never on"
        megaphone.spin_until(lambda: False, 1.0)           # the tail through the speaker
    finally:
        samples = recorder.stop()
    t, f, mag = band(samples)
    officer, station = level_db(f, mag, 3000), level_db(f, mag, 700)
    talking = np.flatnonzero(officer > -30)
    assert talking.size >= 5, officer
    both = np.zeros_like(officer, dtype=bool)
    both[talking[0] + 1: talking[-1]] = True           # whole windows while the officer talks
    both &= officer > -30       # an underrun's silent window on a loaded machine says nothing
    alone = (station > -30) & (officer < -50)
    assert both.sum() >= 4 and alone.sum() >= 3, (officer, station)
    # The station ducked 20 dB, not cut (a median: a window may hold a short gap in one voice),
    # then back to full level once alone.
    gap = officer[both] - station[both]
    assert 15 < np.median(gap) < 25 and np.mean(station[both] > -50) >= 0.8, gap
    assert abs(np.median(station[alone]) - np.median(officer[both])) < 4


def thread_switches(pid: int, name: str) -> int:
    """Context switches so far of the process's thread called `name` (as the kernel shows it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().strip() == name:
            status = (task / "status").read_text()
            return sum(int(line.split()[1]) for line in status.splitlines()
                       if "ctxt_switches" in line)
    raise AssertionError(f"no thread {name!r} in process {pid}")


def test_at_rest_the_output_thread_sleeps_and_the_next_sound_wakes_it(
        megaphone_stack, megaphone) -> None:
    """At rest (amplifier off) the speaker thread waits for sound instead of writing silence
    50 times a second (100-150 context switches a second, measured); the device check still
    wakes it every 2 s. A siren then plays at once."""
    pid = megaphone_stack.megaphone.proc.pid
    wait_for(lambda: not amp_on(megaphone_stack), "amplifier off: the megaphone at rest", 30)
    megaphone.spin_until(lambda: False, 1.0)
    before = thread_switches(pid, "megaphone-out")
    megaphone.spin_until(lambda: False, 4.0)
    assert thread_switches(pid, "megaphone-out") - before <= 12     # 2 device checks, each a few
    assert megaphone.siren("wail", 1.0).accepted
    wait_for(lambda: amp_on(megaphone_stack), "amplifier on for the siren", 30)
    wait_for(lambda: not amp_on(megaphone_stack), "amplifier off after the siren expired", 30)


def test_push_to_talk_alone_from_rest_switches_the_amplifier_on_and_is_heard(
        megaphone_stack, megaphone) -> None:
    """From rest (amplifier off, the output loop asleep), live voice alone: the first chunk
    wakes the loop and switches the amplifier on (a buffer is not `active` before its first
    pull: voice alone stayed silent unless another sound had left the amplifier on)."""
    wait_for(lambda: not amp_on(megaphone_stack), "amplifier off: the megaphone at rest", 30)
    megaphone.spin_until(lambda: False, 1.0)
    voice = (0.5 * 32767 * np.sin(2 * np.pi * 3000 * np.arange(960) / RATE_HZ)).astype(np.int16)
    recorder = MonitorRecorder()
    try:
        seq, start, switched_on = 0, time.monotonic(), False
        while time.monotonic() < start + 1.5:
            megaphone.send_voice(seq, voice)
            seq += 1
            megaphone.pace(start, seq)
            switched_on = switched_on or amp_on(megaphone_stack)
        megaphone.spin_until(lambda: False, 0.5)           # the tail through the speaker
    finally:
        samples = recorder.stop()
    assert switched_on, megaphone_stack.logs()
    t, f, mag = band(samples)
    assert np.sum(level_db(f, mag, 3000) > -30) >= 5, megaphone_stack.logs()


@pytest.mark.parametrize("fields, words", [
    (dict(text=""), "empty text"),
    (dict(text="word " * 2000), "above the"),
    (dict(text="bonjour", language="fr"), "unknown language 'fr'"),
    (dict(clip="no_such_clip"), "unknown clip 'no_such_clip'"),
    (dict(text="hello", volume=3.0), "outside 0..1"),
])
def test_bad_announcements_fail_with_a_reason(megaphone_stack, megaphone, fields, words) -> None:
    result = megaphone.announce(**fields)
    assert not result.success and words in result.message


def test_queue_keeps_working_after_bad_input_and_bad_chunks(megaphone_stack, megaphone) -> None:
    megaphone.send_voice(1, np.zeros(961, np.int16), channels=2)     # odd stereo sample count
    megaphone.send_voice(2, np.zeros(960, np.int16), rate=0)
    assert megaphone.announce(text="hello", language="xx").success is False
    result = megaphone.announce(text="All clear.", language="en")
    assert result.success, result.message + megaphone_stack.logs()
    assert megaphone_stack.megaphone.proc.poll() is None
    assert megaphone.spin_until(lambda: not amp_on(megaphone_stack), 30)
    assert "dropped" in megaphone_stack.megaphone.output()


def test_estop_refuses_sound_and_keeps_amplifier_off(megaphone_stack, megaphone) -> None:
    from robot_dog_interfaces.msg import EstopState
    stack = megaphone_stack
    megaphone.estop.publish(EstopState(engaged=True, reason="test"))
    assert stack.mcu.wait_for(lambda s: s["safe"], timeout=20) is not None
    assert megaphone.spin_until(lambda: megaphone.amp_states and megaphone.amp_states[-1].safe_state, 20)
    result = megaphone.announce(text="Move back.", language="en")
    assert not result.success and "safe state" in result.message
    reply = megaphone.siren("yelp", 2.0)
    assert (reply.accepted, reply.code) == (False, "payload_safe") and "safe state" in reply.message
    assert not amp_on(stack)
    megaphone.estop.publish(EstopState(engaged=False))
    assert stack.mcu.wait_for(lambda s: not s["safe"], timeout=20) is not None
    assert megaphone.spin_until(lambda: not megaphone.amp_states[-1].safe_state, 20)
    assert megaphone.announce(text="Thank you.", language="en").success


def test_speaker_that_disappears_fails_the_announcement_and_comes_back(
        megaphone_stack, megaphone, virtual_audio) -> None:
    """Last in this module: it unloads the run's speaker sink, then creates it again."""
    import subprocess

    from robot_dog.audio import devices
    stack = megaphone_stack
    handle = megaphone.send_announce(clip="tone400", volume=1.0)
    assert megaphone.spin_until(lambda: amp_on(stack), 30), stack.logs()
    modules = subprocess.run(["pactl", "--server", virtual_audio.server, "list", "short", "modules"],
                             capture_output=True, text=True, check=True).stdout
    module = next(line.split()[0] for line in modules.splitlines()
                  if f"sink_name={devices.SPEAKER_SINK}" in line)
    subprocess.run(["pactl", "--server", virtual_audio.server, "unload-module", module], check=True)
    try:
        result = megaphone.result(handle)
        assert not result.success and "speaker device failed" in result.message
        assert megaphone.spin_until(lambda: not amp_on(stack), 30)          # amplifier ends off
        assert stack.megaphone.proc.poll() is None
    finally:
        devices.ensure_virtual_devices(virtual_audio.runtime_dir)
    result = megaphone.announce(text="Back on air.", language="en", timeout=90)
    assert result.success, result.message + stack.logs()
