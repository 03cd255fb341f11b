"""microphone_node in its own process recording the mic source, while this process plays street
sounds into the street sink (the simulator's path) through real PyAudio streams."""
from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from robot_dog.audio import devices, tts
from robot_dog.audio.loudness import normalise
from robot_dog.audio.pcm import to_int16
from robot_dog.audio.stream import PcmOutput
from tests.fixtures.ros_nodes import NodeProcess
from tests.test_audio_sound_events import bang, street

pytestmark = pytest.mark.slow


class MicClient:
    def __init__(self, namespace: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from robot_dog_interfaces.msg import AudioChunk, AudioLevel, SoundEvent
        from std_msgs.msg import Bool

        from robot_dog.ros import qos
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("mic_test", namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.events: list = []
        self.levels: list = []
        self.chunks: list = []
        self.blocks: list = []
        self.node.create_subscription(SoundEvent, "microphone/events", self.events.append,
                                      qos.TELEMETRY)
        self.node.create_subscription(AudioLevel, "microphone/level", self.levels.append, qos.SENSOR)
        self.node.create_subscription(AudioChunk, "microphone/audio",
                                      lambda m: self.chunks.append(m.sequence), qos.SENSOR)
        self.node.create_subscription(AudioChunk, "microphone/audio_blocks",
                                      lambda m: self.blocks.append((m.sequence, len(m.samples))),
                                      qos.SENSOR)
        self.gate = self.node.create_publisher(Bool, "megaphone/active", qos.STATE)
        self.Bool = Bool

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_until(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.02)
        return bool(predicate())

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture(scope="module")
def mic(virtual_audio, tmp_path_factory):
    namespace = f"/dog_{uuid.uuid4().hex[:8]}"
    node = NodeProcess("robot_dog.audio.microphone_node", namespace,
                       tmp_path_factory.mktemp("mic") / "microphone.log")
    client = MicClient(namespace)
    try:
        assert client.spin_until(lambda: len(client.chunks) > 10, 60), node.output()
        yield client, node
    finally:
        client.close()
        node.kill()


def play_street(signal: np.ndarray, started: list[float] | None = None) -> None:
    """Play into the street sink; `started` gets the wall-clock time the write began (the
    microphone stamps its levels with the wall clock too)."""
    out = PcmOutput(devices.STREET_SINK)
    try:
        if started is not None:
            started.append(time.time())
        out.write(to_int16(signal))
    finally:
        out.close()


def play_street_listening(client: MicClient, signal: np.ndarray) -> float:
    """Play while the client spins; the time the play began. `microphone/level` is best effort
    with a history of 5 (sensor QoS): a client that waits out a blocking play of 3 s gets the
    last 5 levels (0.5 s) of the 30 published, never those of a speech before them."""
    started: list[float] = []
    player = threading.Thread(target=play_street, args=(signal, started), name="street")
    player.start()
    while player.is_alive():
        client.executor.spin_once(timeout_sec=0.02)
    player.join()
    return started[0]


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_chunks_are_numbered_and_levels_flow(mic) -> None:
    client, _ = mic
    client.spin_for(0.5)
    seqs = client.chunks[-20:]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert client.levels and client.levels[-1].rms_dbfs < -60        # a silent street


def test_the_same_audio_goes_out_in_100_ms_blocks_for_the_recorder(mic) -> None:
    client, _ = mic
    client.blocks.clear()
    client.chunks.clear()
    client.spin_for(1.5)
    blocks = client.blocks[1:]     # whole blocks after the clear
    assert len(blocks) >= 5, blocks
    assert all(n == 5 * 960 for _, n in blocks)                      # 5 x 20 ms at 48 kHz
    seqs = [s for s, _ in blocks]
    assert seqs == sorted(set(seqs))                                  # numbered, in order
    assert len(client.chunks) >= 2 * len(client.blocks)              # 20 ms chunks meanwhile


def test_bang_fires_an_event_speech_does_not(mic) -> None:
    client, node = mic
    client.events.clear()
    speech = normalise(tts.synthesize("Excuse me, where is the station?", "en"), -30.0)
    started = play_street_listening(client, np.concatenate([street(0.5), speech, street(0.5)]))
    client.spin_for(1.0)
    assert client.events == [], [e.kind for e in client.events]
    # The levels stamped well inside the speech (0.5 s in, 2.1 s long; 0.2 s kept for the
    # device's latency): all of them arrived, and the speech is voiced.
    inside = [level for level in client.levels
              if started + 0.7 <= stamp_s(level) <= started + 0.3 + len(speech) / devices.RATE_HZ]
    assert len(inside) >= 5, [(stamp_s(level) - started, level.voice_active)
                               for level in client.levels[-40:]]
    assert any(level.voice_active for level in inside), [level.rms_dbfs for level in inside]
    play_street(np.concatenate([street(1.0), bang(), street(0.5)]))
    assert client.spin_until(lambda: client.events, 20), node.output()
    assert [e.kind for e in client.events] == ["bang"]
    assert client.events[0].peak_dbfs > -10 and 0 < client.events[0].confidence <= 1


def test_no_event_while_the_megaphone_plays(mic) -> None:
    client, _ = mic
    client.gate.publish(client.Bool(data=True))
    client.spin_for(0.5)
    client.events.clear()
    play_street(np.concatenate([street(1.0), bang(), street(0.5)]))
    client.spin_for(1.0)
    assert client.events == []
    client.gate.publish(client.Bool(data=False))
    client.spin_for(1.0)
    play_street(np.concatenate([street(1.0), bang(), street(0.5)]))
    assert client.spin_until(lambda: client.events, 20)
