"""Station logins: the CPU one argon2id password check costs, and commands under a login flood.

1. `VERIFIES` password checks (credentials.verify_password, the ARGON2 parameters) timed one by
   one in CPU time (time.process_time: this process, all threads) and wall time. The goal: one
   login <= 100 ms of CPU on this machine.
2. An in-process station HTTP server (real limits, real command key, a list as the broker):
   `COMMANDS` commands (POST .../commands/siren?wait=0 with an operator's API token) timed from
   connect to the whole answer, first quiet, then while a client sends 20 logins/s with wrong
   passwords, open loop over ten names (the address lockout stops the hashing after 20 of them;
   every refusal is audited): `flood_answers` counts the answers by status.

    ROBOT_DOG_BENCH_LOGIN_COMMANDS=100 ./dev.sh bench accounts_login
"""
from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.stats import summary
from robot_dog.station.accounts import Accounts, credentials, local_admin
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.storage.accounts import AccountTables
from robot_dog.station.web import StationHttp
from tests.fixtures.command_keys import command_keys

VERIFIES = int(os.environ.get("ROBOT_DOG_BENCH_LOGIN_VERIFIES", "20"))
COMMANDS = int(os.environ.get("ROBOT_DOG_BENCH_LOGIN_COMMANDS", "100"))
FLOOD_PER_S = 20.0


def _verify_costs() -> dict[str, object]:
    stored = credentials.hash_password("correct horse battery")
    cpu, wall = [], []
    for i in range(VERIFIES):
        c0, w0 = time.process_time(), time.perf_counter()
        credentials.verify_password(stored, "correct horse battery" if i % 2 else "wrong guess")
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return {"argon2": dict(credentials.ARGON2), **summary(cpu, "verify_cpu", "ms", "verifies"),
            **summary(wall, "verify_wall", "ms", "verifies")}


def _command(port: int, token: str) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/dogs/dog1/commands/siren?wait=0", body=b'{"tone": "off"}',
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 202, reply.status
    finally:
        conn.close()
    return (time.perf_counter() - t0) * 1000


def _login(port: int, name: str, answers: dict[int, int], lock: threading.Lock) -> None:
    body = json.dumps({"name": name, "password": "not the password"}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/login", body=body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
    except OSError:
        status = 0          # refused or reset: counted, never retried
    finally:
        conn.close()
    with lock:
        answers[status] = answers.get(status, 0) + 1


def _flood(port: int, stop: threading.Event, answers: dict[int, int]) -> None:
    """Open loop: a wrong-password login every 1/FLOOD_PER_S s whether or not the last was
    answered (a closed loop slowed to the station's pace and never reached 20/s), each on a
    thread of its own, cycling over ten names so one account's lockout does not end it."""
    lock, started, n = threading.Lock(), time.monotonic(), 0
    threads: list[threading.Thread] = []
    while not stop.is_set():
        thread = threading.Thread(target=_login, args=(port, f"guess{n % 10}", answers, lock))
        thread.start()
        threads.append(thread)
        n += 1
        stop.wait(max(0.0, started + n / FLOOD_PER_S - time.monotonic()))
    for thread in threads:
        thread.join()
    answers[-1] = round(n / max(1e-9, time.monotonic() - started), 1)   # logins sent per s


def _commands(root: Path) -> dict[str, object]:
    keys = command_keys(root, "dog1")
    storage = Storage(root / "s.db")
    tables = AccountTables(root / "s.db")
    accounts = Accounts(tables)
    accounts.add_account(local_admin("bench"), "otto", "operator", "correct horse battery")
    token = accounts.create_token(local_admin("bench"), "bench", "otto").secret
    server = StationHttp(storage, FrameRelay(), port=0, accounts=accounts,
                         dispatcher=Dispatcher(keys.dir, lambda t, p, q: 0, storage)).start()
    figures: dict[str, object] = {}
    try:
        for case in ("quiet", "login_flood"):
            stop, answers = threading.Event(), {}
            flood = threading.Thread(target=_flood, args=(server.port, stop, answers))
            if case == "login_flood":
                flood.start()
            t0 = time.perf_counter()
            times = [_command(server.port, token) for _ in range(COMMANDS)]
            rate = COMMANDS / (time.perf_counter() - t0)
            stop.set()
            if flood.is_alive():
                flood.join()
                figures["flood_logins_sent_per_s"] = answers.pop(-1)
                figures["flood_answers"] = {str(k): v for k, v in sorted(answers.items())}
            figures.update(summary(times, f"{case}_command", "ms", "commands"))
            figures[f"{case}_commands_per_s"] = round(rate, 1)
    finally:
        server.stop()
        storage.close()
        tables.close()
    return figures


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmp:
        return {**_verify_costs(), **_commands(Path(tmp))}
