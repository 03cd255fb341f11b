"""MQTT link faults: the chunk timer with a fake clock, and the proxy between a real paho client
and a real Mosquitto (delay, outage cutting the session and refusing reconnects)."""
import random
import time

import paho.mqtt.client as mqtt
import pytest

from sim.link_proxy import ChunkTimer, LinkFaults, LinkProxy
from tests.support import wait_for


def test_delay_loss_bandwidth_in_order():
    faults = LinkFaults(delay_s=0.1)
    timer = ChunkTimer(faults, random.Random(1))
    assert timer.release_at(10.0, 100) == pytest.approx(10.1)
    faults.loss_rate, faults.retransmit_s = 1.0, 0.3
    assert timer.release_at(10.2, 100) == pytest.approx(10.6)
    faults.loss_rate = 0.0
    assert timer.release_at(10.25, 100) == pytest.approx(10.6)   # held behind the lost chunk
    faults.delay_s, faults.bandwidth_bps = 0.0, 1000.0
    capped = ChunkTimer(faults, random.Random(1))
    assert capped.release_at(0.0, 500) == pytest.approx(0.5)
    assert capped.release_at(0.0, 500) == pytest.approx(1.0)     # queued behind the first
    with pytest.raises(ValueError):
        LinkFaults(loss_rate=2.0).validate()


def client(port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port, keepalive=5)
    c.loop_start()
    return c


@pytest.mark.slow
def test_proxy_delays_and_cuts_a_real_mqtt_session(mosquitto):
    proxy = LinkProxy(mosquitto.port, LinkFaults(delay_s=0.25)).start()
    received: list[float] = []
    sub = client(mosquitto.port, "listener")
    sub.on_message = lambda c, u, m: received.append(time.monotonic())
    sub.subscribe("t/#", qos=1)
    dog = client(proxy.port, "dog")
    dog.on_disconnect = lambda *a: cuts.append(time.monotonic())
    cuts: list[float] = []
    try:
        wait_for(dog.is_connected, "the dog connected through the proxy", timeout_s=20)
        time.sleep(0.5)   # the listener's subscription is in place
        sent = time.monotonic()
        dog.publish("t/x", b"hello", qos=1)
        wait_for(lambda: received, "the message through the delayed link", timeout_s=20)
        assert received[0] - sent >= 0.25     # at least the one-way delay
        assert proxy.bytes["up"] > 0 and proxy.bytes["down"] > 0

        proxy.outage(3.0)
        wait_for(lambda: cuts, "the session cut by the outage", timeout_s=20)
        assert not dog.is_connected()
        wait_for(lambda: proxy.refused >= 1 or not proxy.in_outage, "a reconnect attempt", timeout_s=20)
        wait_for(dog.is_connected, "the dog back after the outage", timeout_s=30)
        assert proxy.connections >= 2
    finally:
        for c in (dog, sub):
            c.loop_stop()
            c.disconnect()
        proxy.close()
