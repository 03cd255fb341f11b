"""The sans-I/O MQTT 5 codec: byte vectors from the spec, stream splitting, malformed input."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_dog.mqtt import wire


def test_varint_vectors_from_the_spec():
    # MQTT 5 section 1.5.5: the boundaries of 1, 2, 3 and 4 byte encodings.
    assert wire.varint(0) == b"\x00"
    assert wire.varint(127) == b"\x7f"
    assert wire.varint(128) == b"\x80\x01"
    assert wire.varint(16_383) == b"\xff\x7f"
    assert wire.varint(16_384) == b"\x80\x80\x01"
    assert wire.varint(2_097_152) == b"\x80\x80\x80\x01"
    assert wire.varint(268_435_455) == b"\xff\xff\xff\x7f"
    with pytest.raises(ValueError):
        wire.varint(268_435_456)


def test_connect_bytes():
    data = wire.connect("st", username="u", password="p", keepalive_s=30, clean_start=False,
                        session_expiry_s=3600, receive_maximum=100)
    assert data == (b"\x10\x1d"                      # CONNECT, remaining length 29
                    b"\x00\x04MQTT\x05"              # protocol name, version 5
                    b"\xc0"                          # user name + password, no clean start
                    b"\x00\x1e"                      # keep alive 30 s
                    b"\x08\x11\x00\x00\x0e\x10"      # properties: session expiry 3600
                    b"\x21\x00\x64"                  # receive maximum 100
                    b"\x00\x02st\x00\x01u\x00\x01p")  # client id, user name, password


def test_subscribe_and_publish_bytes():
    assert wire.subscribe(7, [("a/+", 1, True)]) == b"\x82\x09\x00\x07\x00\x00\x03a/+\x05"
    assert wire.publish("t", b"hi", 1, 0x0102, expiry_s=2) == (
        b"\x32\x0d\x00\x01t\x01\x02\x05\x02\x00\x00\x00\x02hi")
    assert wire.publish("t", b"", 0, retain=True) == b"\x31\x04\x00\x01t\x00"
    assert wire.pubacks([1, 258]) == b"\x40\x02\x00\x01\x40\x02\x01\x02"
    assert wire.unsubscribe(3, ["a/+"]) == b"\xa2\x08\x00\x03\x00\x00\x03a/+"
    assert wire.DISCONNECT_ENDING_SESSION == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"
    with pytest.raises(ValueError):
        wire.publish("t", b"", 2, 1)


def test_decodes_broker_packets():
    d = wire.Decoder()
    connack = b"\x20\x06\x01\x00\x03\x21\x00\x14"  # session present, success, receive max 20
    suback = b"\x90\x05\x00\x07\x00\x01\x87"       # granted QoS 1, then "Not authorized"
    disconnect = b"\xe0\x0a\x8e\x08\x1f\x00\x05taken"
    unsuback = b"\xb0\x04\x00\x08\x00\x00"
    packets = d.feed(connack + suback + unsuback + b"\xd0\x00" + b"\x40\x03\x00\x09\x10"
                     + disconnect)
    assert packets == [wire.ConnAck(True, 0, 20), wire.SubAck(7, (1, 0x87)),
                       wire.UnsubAck(8, (0,)), wire.PingResp(),
                       wire.PubAck(9, 0x10), wire.Disconnect(0x8E, "taken")]
    assert wire.reason_text(0x8E) == "Session taken over"
    assert d.buffered == 0


def test_publish_with_properties_and_flags():
    # QoS 1, dup, retain, a 2-byte property block (message expiry is 5 bytes: use a varint prop).
    props = b"\x0b\x2a"  # subscription identifier 42
    body = b"\x00\x03a/b" + b"\x12\x34" + bytes([len(props)]) + props + b"payload"
    packet = bytes([0x3B, len(body)]) + body
    assert wire.Decoder().feed(packet) == [wire.Publish("a/b", b"payload", 1, 0x1234, True, True)]


def test_every_split_of_a_stream_gives_the_same_packets():
    big = bytes(range(256)) * 700  # 179 KB: a 3-byte remaining length
    stream = (wire.publish("patrol/v1/d1/telemetry", b'{"v":1}', 1, 5)
              + wire.publish("patrol/v1/d1/video/front", big, 0)
              + b"\xd0\x00" + wire.publish("x", b"", 0))
    expected = wire.Decoder().feed(stream)
    assert [type(p).__name__ for p in expected] == ["Publish", "Publish", "PingResp", "Publish"]
    assert expected[1].payload == big
    rng = random.Random(5)
    for _ in range(200):
        d, got, pos = wire.Decoder(), [], 0
        while pos < len(stream):
            step = rng.choice((1, 2, 3, 7, 100, 4096, 70_000))
            got += d.feed(stream[pos:pos + step])
            pos += step
        assert got == expected and d.buffered == 0


@pytest.mark.parametrize("data, message", [
    (b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"),
    (b"\x34\x05\x00\x01t\x00\x01", "QoS 2"),
    (b"\x30\x03\x00\x05a", "shorter"),
    (b"\x30\x02\x00\x00", "shorter"),            # empty topic
    (b"\x32\x04\x00\x01t\x00", "shorter"),       # QoS 1 without a full packet id
    (b"\x30\x05\x00\x02\xff\xfe\x00", "UTF-8"),
    (b"\x20\x01\x00", "CONNACK shorter"),
    (b"\x20\x04\x00\x00\x01\x7f", "unknown property"),
    (b"\xa0\x00", "unexpected packet type 10"),
])
def test_malformed_packets_raise_protocol_error(data, message):
    with pytest.raises(wire.ProtocolError, match=message):
        wire.Decoder().feed(data)


def test_oversized_packet_is_refused_before_it_is_buffered():
    d = wire.Decoder(max_packet_bytes=1000)
    with pytest.raises(wire.ProtocolError, match="exceeds 1000"):
        d.feed(b"\x30" + wire.varint(5000) + b"\x00")


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_nothing_but_protocol_error(data):
    try:
        wire.Decoder(max_packet_bytes=4096).feed(data)
    except wire.ProtocolError:
        pass
