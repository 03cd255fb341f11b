"""Two-way talk: station voice -> dog speaker latency over the secured MQTT link.

The whole path of the station's push-to-talk: this process runs the station (`Station`: its
talk relay encodes 20 ms PCM frames to Opus and publishes them on `cmd/voice`), a secured
Mosquitto (TLS, ACL, the fleet's credentials), uplink_node (talk window opened by a signed
`talk` command; decodes onto `megaphone/voice/station`) and megaphone_node (amplifier switching
off, on the benchmark's own PulseAudio devices). Frames go out at 50 Hz; every 0.4 s one starts with a
1 kHz burst. Latency = burst onset recorded from the speaker's monitor - the frame handed to the
relay. Like bench megaphone it includes the monitor's capture buffer (~20 ms): an upper bound.
Stages, from the megaphone's voice trace joined by sequence number: encode (the relay's Opus
encode and MQTT publish call), network (publish -> broker -> uplink: decode ->
megaphone/voice/station -> received by megaphone_node), jitter buffer, mixer, device (written -> recorded).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.procs import stop as stop_processes
from bench.audio_markers import OnsetRecorder, PulseLatencyWatch, report, send_markers
from bench.bench_megaphone import OUTPUT_LATENCY_MS
from robot_dog.ros import dds_env
from robot_dog.audio import devices


def talk_latency(workdir: Path) -> dict[str, object]:
    from robot_dog.audio import voice_trace, voices
    from robot_dog.station.app import Station, StationConfig
    from tests.fixtures.secure_broker import start_secure_broker
    from tests.support import free_port

    dog = f"bench{uuid.uuid4().hex[:6]}"
    broker = start_secure_broker(workdir, dogs=(dog,), users=("station",))
    paths = broker.fleet.paths
    station = Station(StationConfig(broker.host, broker.port, workdir / "st.db", free_port(),
                                    fleet_dir=broker.fleet.root)).start()
    env = dds_env.environ()
    trace_file = workdir / "voice_trace.jsonl"
    procs = [subprocess.Popen(argv, env=env, stdout=open(workdir / f"{name}.log", "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
             for name, argv in {
                 "uplink": [sys.executable, "-m", "robot_dog.uplink.node", "--ros-args",
                            "-r", f"__ns:=/{dog}", "-p", f"dog_id:={dog}",
                            "-p", f"broker_port:={broker.port}",
                            "-p", f"ca_file:={paths.dog_ca_cert(dog)}",
                            "-p", f"password_file:={paths.dog_password(dog)}",
                            "-p", f"command_public_key:={paths.dog_public_key(dog)}",
                            "-p", f"state_dir:={workdir / dog}"],
                 "megaphone": [sys.executable, "-m", "robot_dog.audio.megaphone_node",
                               "--ros-args", "-r", f"__ns:=/{dog}", "-p", "amplifier:=false",
                               "-p", f"voice_trace:={trace_file}",
                               "-p", f"output_latency_ms:={OUTPUT_LATENCY_MS}"]}.items()]
    recorder = OnsetRecorder()
    pulse = PulseLatencyWatch()
    try:
        end = time.monotonic() + 90
        while time.monotonic() < end:  # the dog's link and command path up (discovery)
            nonce = station.dispatcher.send(dog, "talk", {"seconds": 60}, "bench")
            result = station.dispatcher.wait(nonce, 5.0)
            if result and result.get("code") == "ok":
                break
            time.sleep(1.0)
        else:
            raise RuntimeError("the dog never accepted `talk`")
        time.sleep(3.0)  # megaphone_node's subscription to the station's voice is matched by now
        sent = send_markers(lambda _seq, samples: samples,
                            lambda samples: station.talk.send_voice(dog, samples.tobytes(), "bench"))
        time.sleep(1.0)
    finally:
        recorder.close()
        hung = stop_processes(procs)
        station.stop()
        broker.stop()
    if hung:
        raise RuntimeError(f"did not stop within 20 s of SIGTERM (killed): {hung}")
    if not trace_file.exists():
        raise RuntimeError(f"megaphone_node wrote no voice trace (log: {workdir / 'megaphone.log'})")
    trace = voice_trace.load(trace_file, voices.STATION.name)
    figures = report("talk", sent, recorder.onsets, trace, encode=True)
    figures["talk_monitor_backlog_max_ms"] = recorder.max_backlog / devices.RATE_HZ * 1000
    figures |= pulse.figures("talk")
    return figures


def run() -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench_talk_"))
    saved = dict(os.environ)
    audio = devices.ensure_virtual_devices(workdir / "pulse")
    try:
        return talk_latency(workdir)
    finally:
        audio.stop()
        os.environ.clear()
        os.environ.update(saved)
