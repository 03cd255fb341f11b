"""A station nobody talks through does without talk's libraries: numpy and PyAV load when talk
is first used (robot_dog/station/talk.py), not when the station is imported or started."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent

HEAVY = ("numpy", "av", "cv2", "scipy")

STATION = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    def loaded():
        return sorted(m for m in {heavy!r} if m in sys.modules)

    def rss_mb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    from robot_dog.station.app import Station, StationConfig
    report = {{"imported": loaded()}}
    station = Station(StationConfig("127.0.0.1", {port}, {db!r}, {http_port},
                                    fleet_dir=Path({fleet!r}))).start()
    try:
        report["started"], report["started_rss_mb"] = loaded(), rss_mb()
        # An operator opens a talk window: the codec (and numpy with it) loads now.
        station.talk.command_args("{dog}", "talk", {{"seconds": 5}}, "admin")
        report["talking"], report["talking_rss_mb"] = loaded(), rss_mb()
    finally:
        station.stop()
    print(json.dumps(report))
""")


def test_the_station_starts_without_numpy_or_pyav_and_loads_them_for_talk(make_secure_broker,
                                                                           tmp_path) -> None:
    broker = make_secure_broker(("dog1",), ("station",))
    script = STATION.format(heavy=HEAVY, port=broker.port, db=str(tmp_path / "st.db"),
                            http_port=free_port(), fleet=str(broker.fleet.root), dog="dog1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path,   # var/ of the station: the test's own
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["imported"] == [] and report["started"] == [], report
    assert {"numpy", "av"} <= set(report["talking"]), report    # talk still works: it loads them
    assert report["talking_rss_mb"] > report["started_rss_mb"]
