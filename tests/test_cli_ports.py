"""robot_dog.cli.ports: a live listener is "in use", a port left in TIME-WAIT by a visit is not, and
the demo refuses a taken port in one line before it starts anything."""
from __future__ import annotations

import pytest

import socket
import subprocess
import sys

from robot_dog.ros import dds_env
from robot_dog.cli import ports


def test_a_live_listener_is_in_use_and_the_line_names_the_option() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        reason = ports.bind_problem(port)
    assert reason is not None and "in use" in reason
    line = ports.in_use("viewer", port, "--http-port", reason)
    assert line.startswith(f"viewer port {port} on 127.0.0.1: ") and "--http-port N (0: any free port)" in line
    assert "\n" not in line


def test_a_port_in_time_wait_is_free_for_us() -> None:
    """Server side closes first (as http.server does): its end waits in TIME-WAIT."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()                    # the server's end closes first -> TIME-WAIT on `port`
    client.recv(1)                  # sees EOF
    client.close()
    server.close()
    with socket.socket() as plain:  # without SO_REUSEADDR the port looks taken
        try:
            plain.bind(("127.0.0.1", port))
            plain_ok = True
        except OSError:
            plain_ok = False
    assert not plain_ok, "no TIME-WAIT left on the port: the test proves nothing"
    assert ports.bind_problem(port) is None


@pytest.mark.slow
@pytest.mark.parametrize("what, option", [("viewer", "--http-port"), ("handheld", "--handheld-port")])
def test_the_demo_refuses_a_taken_port_in_one_line(tmp_path, what, option) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        others = {"--http-port": "0", "--handheld-port": "0", "--broker-port": "0", option: str(port)}
        proc = subprocess.run(
            [sys.executable, "-m", "robot_dog.cli", "demo", *[a for kv in others.items() for a in kv],
             "--var", str(tmp_path / "demo")],
            env=dds_env.environ(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if "INFO" not in line]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"robot-dog demo: {what} port {port} on 127.0.0.1: ")
    assert f"{option} N (0: any free port)" in lines[0]
    assert not (tmp_path / "demo" / "fleet").exists()  # nothing started or created
