"""The station's JSON API fuzzed from its own OpenAPI document: 10,000 generated requests.

The same station and rules as tests/test_station_api_fuzz.py (which runs a small seeded set in
CI): an in-process `StationHttp` on SQLite with the admin API token of a migrated fleet, dogs
without command keys (nothing is ever signed or published), schemathesis drawing cases for
every operation but the endless MJPEG stream, each sent over HTTP. A request may be refused
(a 4xx with `error` and `code`) but never answered 5xx, never left unanswered, and the server
must still answer an authenticated request after the run.

    ROBOT_DOG_BENCH_FUZZ_REQUESTS=10000 ./dev.sh bench api_fuzz
"""
from __future__ import annotations

import collections
import os
import tempfile
import time
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from bench.stats import NoSamples, percentile
from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import api_token

REQUESTS = int(os.environ.get("ROBOT_DOG_BENCH_FUZZ_REQUESTS", "10000"))


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench_api_fuzz_") as root:
        storage = Storage(Path(root) / "s.db")
        sent: list[str] = []
        server = StationHttp(storage, FrameRelay(), port=0,
                             dispatcher=Dispatcher(None, lambda t, p, q: sent.append(t) or 0,
                                                   storage)).start()
        try:
            return _fuzz(server, sent)
        finally:
            server.stop()
            storage.close()


def _fuzz(server: StationHttp, sent: list[str]) -> dict[str, object]:
    base = f"http://127.0.0.1:{server.port}"
    token = api_token(server.accounts)   # an admin's API token: every route
    headers = {"Authorization": f"Bearer {token}", "Host": f"127.0.0.1:{server.port}"}
    schema = schemathesis.openapi.from_dict(server.app.openapi()).exclude(path_regex=r"\.mjpeg$")
    operations = [result.ok() for result in schema.get_all_operations()]
    if not operations:
        raise NoSamples("the OpenAPI document lists no operation")
    per_operation = max(1, REQUESTS // len(operations))
    statuses: collections.Counter[int] = collections.Counter()
    server_errors: list[str] = []
    unclean_refusals: list[str] = []
    unanswered: list[str] = []
    times_ms: list[float] = []
    session = requests.Session()

    def one(case: schemathesis.Case) -> None:
        start = time.perf_counter()
        try:
            reply = case.call(base_url=base, headers=headers, session=session, timeout=30)
        except requests.RequestException as exc:
            unanswered.append(f"{case.method} {case.formatted_path}: {type(exc).__name__}")
            return
        times_ms.append((time.perf_counter() - start) * 1000.0)
        statuses[reply.status_code] += 1
        where = f"{case.method} {case.formatted_path} -> {reply.status_code}"
        if reply.status_code >= 500:
            server_errors.append(f"{where}: {reply.text[:200]}")
        elif reply.status_code >= 400 and not _clean_refusal(reply):
            unclean_refusals.append(f"{where}: {reply.text[:200]}")

    # Hypothesis stops early on an operation whose inputs it has exhausted (a GET without
    # parameters): rounds over every operation until the total is reached (10 rounds at most).
    for _ in range(10):
        if sum(statuses.values()) + len(unanswered) >= REQUESTS:
            break
        for operation in operations:
            draws = settings(max_examples=per_operation, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))(
                given(case=operation.as_strategy())(lambda case: one(case)))
            draws()

    alive = session.get(f"{base}/api/fleet", headers=headers, timeout=30).status_code == 200
    return {"operations": len(operations), "requests": sum(statuses.values()),
            "requests_per_operation": per_operation,
            "status_counts": dict(sorted(statuses.items())),
            "answers_5xx": len(server_errors), "refusals_without_code": len(unclean_refusals),
            "unanswered": len(unanswered),
            "first_problems": (server_errors + unclean_refusals + unanswered)[:5] or "none",
            "request_p50_ms": percentile(times_ms, 0.5, "answered requests"),
            "request_p99_ms": percentile(times_ms, 0.99, "answered requests"),
            "commands_published": len(sent), "server_answers_after_run": alive,
            "goal_met": alive and not (server_errors or unclean_refusals or unanswered or sent)}


def _clean_refusal(reply: requests.Response) -> bool:
    try:
        body = reply.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {"error", "code"} <= set(body)
