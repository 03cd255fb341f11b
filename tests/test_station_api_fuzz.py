"""The station's JSON API fuzzed from its own OpenAPI document (schemathesis): a small seeded
set here; no request may get a 500 or take the server down, each refusal is a clean 4xx.
The dogs have no command keys here: nothing is ever signed or published."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from robot_dog.station.dispatch import Dispatcher
from robot_dog.station.relay import FrameRelay
from robot_dog.station.storage import Storage
from robot_dog.station.web import StationHttp
from tests.fixtures.accounts import api_token



@pytest.fixture
def station(tmp_path):
    storage = Storage(tmp_path / "s.db")
    sent: list[str] = []
    server = StationHttp(storage, FrameRelay(), port=0,
                         dispatcher=Dispatcher(None, lambda t, p, q: sent.append(t) or 0, storage)
                         ).start()
    server.sent, server.token = sent, api_token(server.accounts)   # an admin's: every route
    yield server
    server.stop()
    storage.close()
    assert sent == []


def _openapi() -> dict:
    """The document the server serves at /api/openapi.json (built without serving)."""
    with tempfile.TemporaryDirectory() as root:
        storage = Storage(Path(root) / "s.db")
        server = StationHttp(storage, FrameRelay(), port=0)
        try:
            return server.app.openapi()
        finally:
            server._sock.close()
            storage.close()


# The MJPEG stream is endless by design (its own tests: test_station_web_attacks.py).
schema = schemathesis.openapi.from_dict(_openapi()).exclude(path_regex=r"\.mjpeg$")


@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_breaks_the_api(case, station):
    reply = case.call(base_url=f"http://127.0.0.1:{station.port}", headers={
        "Authorization": f"Bearer {station.token}", "Host": f"127.0.0.1:{station.port}"})
    assert reply.status_code < 500, (case.method, case.formatted_path, reply.text[:300])
    if reply.status_code >= 400:
        assert {"error", "code"} <= set(reply.json()), reply.text[:300]
