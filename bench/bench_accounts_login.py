"""Station logins: the CPU one argon2id password check costs, and commands under a login flood.

1. `VERIFIES` password checks (credentials.verify_password, the ARGON2 parameters) timed one by
   one in CPU time (time.process_time: this process, all threads) and wall time. The goal: one
   login <= 100 ms of CPU on this machine.
2. An in-process station HTTP server (real limits, real command key, a list as the broker):
   `COMMANDS` commands (POST .../commands/siren?wait=0 with an operator's API token) timed from
   connect to the whole answer, first quiet, then while a client sends 20 logins/s with wrong
   passwords (the address lockout stops the hashing after 20 of them; every refusal is audited).

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


def _flood(port: int, stop: threading.Event, answers: dict[int, int]) -> None:
    body = json.dumps({"name": "otto", "password": "not the password"}).encode()
    while not stop.is_set():
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/api/login", body=body,
                         headers={"Content-Type": "application/json"})
            status = conn.getresponse().status
            answers[status] = answers.get(status, 0) + 1
        finally:
            conn.close()
        stop.wait(max(0.0, 1 / FLOOD_PER_S - (time.monotonic() - t0)))


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
