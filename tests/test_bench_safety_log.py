"""bench safety's path selection and its results log: runs of one code version add up, runs of
other code (or of an uncommitted tree) are totalled apart, a torn line is skipped and counted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import safety_log
from bench.safety_log import PATHS


def test_no_paths_named_means_every_path() -> None:
    assert safety_log.select_paths(None) == PATHS
    assert safety_log.select_paths("") == PATHS
    assert safety_log.select_paths(" , ") == PATHS


def test_named_paths_run_in_the_benchmark_order_once_each() -> None:
    assert safety_log.select_paths("payload_link_loss, handheld_close,handheld_close") == \
        ("handheld_close", "payload_link_loss")


def test_an_unknown_path_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as err:
        safety_log.select_paths("handheld_close,handheld_lost")
    assert "handheld_lost" in str(err.value) and "station_estop" in str(err.value)


def _run(code: str, times_s: dict[str, list[float]], *, restarts: dict[str, int] | None = None,
         not_run: dict[str, int] | None = None, dirty: bool = False, load: float = 3.0,
         date: str = "2026-12-06T10:00:00Z") -> dict:
    not_run = not_run or {}
    return safety_log.record(
        identity={"commit": code + "d0c5", "code": code, "dirty": dirty}, date=date,
        load_start=load, load_end=load + 1, hogs=2, times_s=times_s, restarts=restarts or {},
        watched={p: len(t) for p, t in times_s.items()}, not_run=not_run,
        seconds={p: 2.0 * (len(t) + not_run.get(p, 0)) for p, t in times_s.items()})


def test_a_run_line_counts_the_stops_over_half_a_second() -> None:
    line = _run("aaa", {"station_estop": [0.01, 0.5, 0.501, 20.0]}, restarts={"station_estop": 1},
                not_run={"station_estop": 2})
    doc = line["per_path"]["station_estop"]
    assert (doc["trials"], doc["over_500ms"], doc["restarts"], doc["not_run"]) == (4, 2, 1, 2)
    assert doc["max_ms"] == 20000.0 and doc["s_per_trial"] == 2.0
    assert line["paths"] == ["station_estop"] and line["code"] == "aaa"


def test_runs_of_the_current_code_add_up_and_other_code_is_apart(tmp_path: Path) -> None:
    log = tmp_path / "var" / "safety.jsonl"
    safety_log.append(log, _run("old", {"station_estop": [0.9] * 5}, load=40.0))
    safety_log.append(log, _run("new", {"station_estop": [0.01] * 3, "handheld_close": [0.02]},
                                restarts={"handheld_close": 1}, date="2026-12-06T11:00:00Z"))
    safety_log.append(log, _run("new", {"station_estop": [0.6, 0.03]}, not_run={"station_estop": 1},
                                date="2026-12-06T11:30:00Z"))
    safety_log.append(log, _run("new", {"station_estop": [5.0]}, dirty=True))
    with log.open("a") as out:
        out.write('{"per_path": {"station_estop": {"tri')          # a run killed mid-write
    runs, bad = safety_log.read(log.read_text().splitlines())
    assert (len(runs), bad) == (4, 1)

    versions = safety_log.totals(runs)
    assert set(versions) == {"old", "new", "new+dirty"}
    new = versions["new"]
    assert (new.runs, new.first, new.last) == (2, "2026-12-06T11:00:00Z", "2026-12-06T11:30:00Z")
    station = new.paths["station_estop"]
    assert (station.trials, station.over_500ms, station.not_run, station.max_ms) == (5, 1, 1, 600.0)
    assert station.quantile(0.5) == 10.0 and station.seconds == 12.0
    assert new.paths["handheld_close"].restarts == 1
    assert versions["old"].paths["station_estop"].over_500ms == 5    # not mixed into "new"

    text = safety_log.report(runs, "new", bad)
    assert text.index("code new (current)") < text.index("code old (other code")
    assert "1 unreadable line(s) skipped" in text
    current = text.split("code new (current)")[1].split("code ")[0]
    assert "station_estop" in current and " 600 " in current


def test_a_log_without_the_current_code_says_so() -> None:
    runs = [json.loads(json.dumps(_run("old", {"mcu_button": [0.1]})))]
    text = safety_log.report(runs, "new")
    assert "no run of the current code (new) logged yet" in text
    assert "code old (other code" in text
