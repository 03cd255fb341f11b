"""Megaphone: push-to-talk latency to the speaker, TTS time to first audio, mixer CPU.

- push-to-talk: megaphone_node in its own process (virtual devices of a PulseAudio daemon of
  this benchmark's own; amplifier switching off, so the figure is the audio path alone) gets
  `megaphone/voice/handheld` chunks of 20 ms at 50 Hz from this process (as the officer's
  phone); every 0.4 s one chunk starts with a 1 kHz burst. This process records the speaker's
  monitor through PyAudio; latency = when the burst's first sample is recorded (read time minus
  the samples after it) - when its chunk was published. It includes the monitor's capture buffer (~20 ms): the figure is "chunk
  in -> sound recorded at the speaker", an upper bound of "chunk in -> sound out". The node's
  voice trace splits it into stages (network: publish -> received; jitter buffer; mixer;
  device: written -> recorded) and names the stage where each marker not heard was lost.
- TTS: synthesise and loudness-normalise a 20-word announcement (all that happens before its
  first sample can play), English and Mandarin (Hanzi -> pinyin -> espeak-ng).
- mixer: CPU time (process_time) of the megaphone core mixing announcement + siren + live voice
  through ducking and the limiter, per second of audio.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.procs import stop as stop_processes
from bench.audio_markers import OnsetRecorder, PulseLatencyWatch, report, send_markers
from robot_dog.ros import dds_env
from robot_dog.audio import devices

#: the megaphone's speaker buffer (its default, 40 ms; the figure is quoted for it)
OUTPUT_LATENCY_MS = int(os.environ.get("ROBOT_DOG_BENCH_OUTPUT_LATENCY_MS", "40"))
EN_20 = ("Attention please. This street is closed for public safety. Please keep moving and "
         "follow the directions of the officers on site.")
CMN_20 = "请注意，前方道路因公共安全原因临时封闭，请大家不要停留，听从现场民警指挥，谢谢合作。"


def push_to_talk(audio: devices.VirtualAudio, workdir: Path) -> dict[str, object]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from robot_dog_interfaces.msg import AudioChunk

    from robot_dog.audio import voice_trace, voices
    from robot_dog.ros import qos
    namespace = f"/bench_{uuid.uuid4().hex[:8]}"
    log = open(workdir / "megaphone.log", "w")
    trace_file = workdir / "voice_trace.jsonl"
    node = subprocess.Popen(
        [sys.executable, "-m", "robot_dog.audio.megaphone_node", "--ros-args", "-r",
         f"__ns:={namespace}", "-p", "amplifier:=false", "-p", f"voice_trace:={trace_file}",
         "-p", f"output_latency_ms:={OUTPUT_LATENCY_MS}"],
        env=dds_env.environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    ros = rclpy.create_node("bench_ptt", namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(ros)
    pub = ros.create_publisher(AudioChunk, voices.HANDHELD.topic, qos.SENSOR)
    recorder = OnsetRecorder()
    pulse = PulseLatencyWatch()
    try:
        end = time.monotonic() + 60
        while pub.get_subscription_count() == 0 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        if pub.get_subscription_count() == 0:
            raise RuntimeError(f"megaphone_node never subscribed {voices.HANDHELD.topic} in 60 s "
                               f"(log: {workdir / 'megaphone.log'})")
        time.sleep(2.0)                          # the node's speaker stream is open by now

        def chunk(seq: int, samples: np.ndarray) -> AudioChunk:
            msg = AudioChunk(sample_rate=48000, channels=1, sequence=seq)
            msg.samples = samples
            return msg
        sent = send_markers(chunk, pub.publish)
        time.sleep(1.0)
    finally:
        recorder.close()
        executor.shutdown()
        ros.destroy_node()
        rclpy.shutdown(context=context)
        hung = stop_processes([node])
        log.close()
    if hung:
        raise RuntimeError(f"megaphone_node did not stop within 20 s of SIGTERM (killed; log: "
                           f"{workdir / 'megaphone.log'})")
    if not trace_file.exists():
        raise RuntimeError(f"megaphone_node wrote no voice trace (log: {workdir / 'megaphone.log'})")
    trace = voice_trace.load(trace_file, voices.HANDHELD.name)
    figures = report("ptt", sent, recorder.onsets, trace, encode=False)
    figures["ptt_monitor_backlog_max_ms"] = recorder.max_backlog / devices.RATE_HZ * 1000
    figures |= pulse.figures("ptt")
    return figures


def tts_first_audio() -> dict[str, object]:
    from robot_dog.audio import loudness, tts
    figures: dict[str, object] = {}
    for language, text in (("en", EN_20), ("cmn", CMN_20)):
        tts.synthesize(text, language)         # warm-up: the node loads pypinyin at start-up
        times = []
        for _ in range(15):
            started = time.perf_counter()
            loudness.normalise(tts.synthesize(text, language))
            times.append((time.perf_counter() - started) * 1000)
        figures[f"tts_{language}_first_audio_p50_ms"] = statistics.median(times)
        figures[f"tts_{language}_first_audio_max_ms"] = max(times)
    return figures


def mixer_cpu(seconds: int = 60) -> dict[str, object]:
    from robot_dog.audio.megaphone import Megaphone
    mega = Megaphone()
    t = np.arange(48000 * 10) / 48000
    mega.announce((0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), repeat=10)
    mega.siren.set("wail", 120.0, now=0.0)
    voice = (0.9 * np.sin(2 * np.pi * 700 * np.arange(960) / 48000)).astype(np.float32)
    frames = seconds * 50
    started = time.process_time()
    for seq in range(frames):
        mega.voices["handheld"].push(seq, voice)
        mega.frame(now=seq * 0.02)
    cpu = time.process_time() - started
    return {"mixer_cpu_ms_per_audio_s": cpu / seconds * 1000,
            "mixer_cpu_pct_of_one_core": cpu / seconds * 100}


def run() -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench_megaphone_"))
    saved = dict(os.environ)
    audio = devices.ensure_virtual_devices(workdir / "pulse")
    try:
        figures = push_to_talk(audio, workdir)
    finally:
        audio.stop()
        os.environ.clear()
        os.environ.update(saved)
    figures.update(tts_first_audio())
    figures.update(mixer_cpu())
    return figures
