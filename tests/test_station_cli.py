"""`robot-dog station` as a user runs it: SIGTERM stops it cleanly (exit 0, summary, no
traceback), a restart right after a visit gets the same port (connections in TIME-WAIT do not
block it), a port really taken or a missing fleet is one line naming the fix, the started
station says how to log in, and an old fleet's shared operator token is not adopted: the
station names the migration instead."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from robot_dog.ros import dds_env
from robot_dog import fleet as fleet_mod
from tests.fixtures.accounts import api_token
from tests.support import free_port, wait_for

pytestmark = pytest.mark.timeout(180)


class StationProcess:
    """`robot-dog station ...` as a child; its merged output kept line by line."""

    def __init__(self, *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "robot_dog.cli", "station", *argv],
                                     env={**dds_env.environ(), **(env or {})}, cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str) -> str:
        return wait_for(lambda: next((line for line in self.lines if text in line), None),
                        f"{text!r} in the station's output", timeout_s=90)

    def exited(self) -> int:
        """Wait for an exit of its own; the code, with all its output read."""
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        self._reader.join(timeout=10)
        return code


def visit(port: int, token: str) -> bytes:
    """GET /api/fleet with `Connection: close`, read to the end of the stream before closing:
    the station closes first, so the connection waits in TIME-WAIT on the station's port (a
    client that closed as soon as it had the body raced the server's close, and under load the
    TIME-WAIT could land on the client's port instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET /api/fleet HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return body


def time_wait_on(port: int) -> bool:
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_TIME_WAIT
               for c in psutil.net_connections(kind="tcp4"))


def test_sigterm_stops_cleanly_and_a_restart_after_a_visit_keeps_the_port(tmp_path, mosquitto) -> None:
    port = free_port()
    argv = ("--broker-port", str(mosquitto.port), "--http-port", str(port), "--db", str(tmp_path / "s.db"))
    token = api_token(tmp_path / "s.db")  # reads need a login: a person's API token
    first = StationProcess(*argv)
    try:
        first.wait_for_line(f"viewer:  http://127.0.0.1:{port}/")
        for _ in range(3):
            assert json.loads(visit(port, token))["dogs"] == []
    finally:
        code = first.stop(signal.SIGTERM)
    assert code == 0, first.output()[-3000:]
    assert "Traceback" not in first.output()
    assert '"stored"' in first.output()  # the summary: it took the clean path
    # The server closed those connections first: they wait in TIME-WAIT on the station's port.
    assert time_wait_on(port), "the visit left no connection in TIME-WAIT: the test proves nothing"

    second = StationProcess(*argv)
    try:
        second.wait_for_line(f"viewer:  http://127.0.0.1:{port}/")
        assert json.loads(visit(port, token))["dogs"] == []
    finally:
        assert second.stop(signal.SIGINT) == 0, second.output()[-3000:]


@pytest.mark.slow
def test_a_port_really_taken_is_one_line_and_no_database(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        station = StationProcess("--http-port", str(port), "--db", str(tmp_path / "s.db"))
        code = station.exited()
    out = station.output()
    assert code == 1
    assert out.strip().count("\n") == 0, out  # one line
    assert f"viewer port {port} on 127.0.0.1" in out and "--http-port N (0: any free port)" in out
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_a_missing_fleet_is_one_line_naming_fleet_init(tmp_path) -> None:
    station = StationProcess("--fleet", str(tmp_path / "nonexistent"), cwd=tmp_path)
    assert station.exited() == 1
    out = station.output().strip()
    assert out.count("\n") == 0 and "Traceback" not in out, out
    assert "no fleet in" in out and "robot-dog fleet init" in out
    assert list(tmp_path.iterdir()) == []  # no database left behind


@pytest.mark.slow
def test_the_started_station_says_how_to_log_in(tmp_path) -> None:
    fleet = fleet_mod.init_fleet(tmp_path / "fleet", ["dog1"], ["station"],
                                 fleet_mod.BrokerSettings(port=free_port()))
    station = StationProcess("--fleet", str(fleet.root), "--http-port", "0",
                             "--db", str(tmp_path / "s.db"))
    try:
        viewer = station.wait_for_line("viewer:  http://127.0.0.1:")
        login = station.wait_for_line("log in:")
    finally:
        assert station.stop() == 0, station.output()[-3000:]
    assert "viewer:  http://127.0.0.1:0/" not in viewer  # the port it really got
    # no account in this database yet: the line says how to make one
    assert f"robot-dog station user add NAME --role admin --db {tmp_path / 's.db'}" in login


def status_with(port: int, token: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/fleet",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_an_old_fleets_shared_token_is_not_adopted_and_the_station_names_the_migration(tmp_path) -> None:
    fleet = fleet_mod.init_fleet(tmp_path / "fleet", ["dog1"], ["station"],
                                 fleet_mod.BrokerSettings(port=free_port()))
    assert not fleet.paths.operator_token.exists()   # new fleets have no shared token
    old = "an-old-fleets-shared-operator-token-0123456789"
    fleet.paths.operator_token.write_text(old + "\n")  # as fleets made before accounts have it
    db, port = tmp_path / "s.db", free_port()
    argv = ("--fleet", str(fleet.root), "--http-port", str(port), "--db", str(db))
    station = StationProcess(*argv)
    try:
        note = station.wait_for_line("NOTE:")
        assert status_with(port, old) == 401   # not adopted: no admin credential by surprise
    finally:
        assert station.stop() == 0, station.output()[-3000:]
    assert f"robot-dog station migrate --fleet {fleet.root} --db {db}" in note
    assert old not in station.output()    # the secret itself is never printed

    migrate = subprocess.run([sys.executable, "-m", "robot_dog.cli", "station", "migrate",
                              "--fleet", str(fleet.root), "--db", str(db)],
                             capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr
    again = StationProcess(*argv)
    try:
        note = again.wait_for_line("NOTE:")
        assert status_with(port, old) == 200   # the admin chose to keep it: an API token now
    finally:
        assert again.stop() == 0, again.output()[-3000:]
    assert "was migrated" in note and "'operator'" in note and "delete the file" in note
