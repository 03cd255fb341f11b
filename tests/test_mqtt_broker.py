"""The local broker runner: starts a real Mosquitto, and fails with a clear message."""
import socket

import pytest

from robot_dog.mqtt.broker import BrokerError, MosquittoBroker
from tests.support import free_port


def test_broker_accepts_connections_on_loopback(mosquitto):
    with socket.create_connection(("127.0.0.1", mosquitto.port), timeout=5):
        pass
    conf = (mosquitto.data_dir / "mosquitto.conf").read_text()
    assert f"listener {mosquitto.port} 127.0.0.1" in conf
    assert "\nset_tcp_nodelay true\n" in conf  # mosquitto started with it: a known option


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(BrokerError, match="is in use"):
            MosquittoBroker(busy.getsockname()[1], tmp_path).start(timeout_s=10)


def test_missing_binary_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("robot_dog.mqtt.broker.mosquitto_binary", lambda: None)
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        MosquittoBroker(free_port(), tmp_path).start()


@pytest.mark.slow
def test_persistence_is_written_where_we_can_read_it(tmp_path):
    """Started as root, mosquitto would switch to user "mosquitto" and silently run without its
    persistence file (our data dir is 0700): persistent sessions died with every restart."""
    data_dir = tmp_path / "broker"
    data_dir.mkdir(mode=0o700)
    broker = MosquittoBroker(free_port(), data_dir).start()
    broker.stop()
    assert (data_dir / "mosquitto.db").exists()
    assert (data_dir / "mosquitto.log").exists()


@pytest.mark.slow
def test_a_fixture_port_taken_by_someone_else_is_replaced(tmp_path, monkeypatch):
    """Another run may bind the port free_port() picked before mosquitto does."""
    from tests import support
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        picks = iter([busy.getsockname()[1], support.free_port()])
        monkeypatch.setattr(support, "free_port", lambda: next(picks))
        broker = support.on_a_free_port(lambda port: MosquittoBroker(port, tmp_path).start(timeout_s=10))
        try:
            assert broker.port != busy.getsockname()[1]
            with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
                pass
        finally:
            broker.stop()
