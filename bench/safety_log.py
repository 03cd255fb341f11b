"""bench safety's paths, its append-only results log and the totals over it (pure: no ROS, no git).

1,000 trials per path take hours, so they are gathered over several runs: each run appends one
JSON line (`record`) to the log, and `totals` adds the runs up per code version. A run's `code`
is the hash of the files the benchmark's processes load (bench/code_identity.py; `code_files`
says how many) and `commit` the commit the tree was on: runs of other code, or of uncommitted
changes to that code, are totalled apart, never mixed in, and a commit that touches no loaded
file (a station page) keeps the tally. Runs logged before that carry the newest commit that
changed anything but the docs as `code`, with `dirty` for uncommitted changes: their own
versions.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import percentile

PATHS = ("station_estop", "handheld_estop", "handheld_close", "handheld_silent", "mcu_button",
         "payload_link_loss")
OVER_S = 0.5        # the goal: no stop slower than this, in every trial


def select_paths(spec: str | None) -> tuple[str, ...]:
    """The paths named in `spec` ("a,b"; empty or None: all), in PATHS order; ValueError names
    an unknown one and the known ones."""
    names = {name.strip() for name in (spec or "").split(",") if name.strip()}
    unknown = sorted(names - set(PATHS))
    if unknown:
        raise ValueError(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(PATHS)}")
    return tuple(p for p in PATHS if p in names) if names else PATHS


def record(*, identity: Mapping[str, Any], date: str, load_start: float, load_end: float,
           hogs: int, times_s: Mapping[str, Sequence[float]], restarts: Mapping[str, int],
           watched: Mapping[str, int], not_run: Mapping[str, int],
           seconds: Mapping[str, float], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One run's line: per path its stops (ms), how many were over OVER_S, the restart checks
    done and failed, the trials that could not run and the seconds per trial."""
    per_path = {}
    for path, times in times_s.items():
        ms = [round(t * 1000, 1) for t in times]
        done = watched.get(path, 0) + not_run.get(path, 0)
        per_path[path] = {
            "trials": len(ms), "over_500ms": sum(t > OVER_S for t in times),
            "max_ms": max(ms) if ms else None, "restarts": restarts.get(path, 0),
            "watched": watched.get(path, 0), "not_run": not_run.get(path, 0),
            "seconds": round(seconds.get(path, 0.0), 1),
            "s_per_trial": round(seconds.get(path, 0.0) / done, 2) if done else None, "ms": ms}
    return {**identity, "date": date, "load_start": round(load_start, 2),
            "load_end": round(load_end, 2), "hogs": hogs, "paths": list(times_s),
            "per_path": per_path, **(extra or {})}


def append(log: Path, line: Mapping[str, Any]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, separators=(",", ":")) + "\n")


def read(lines: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """The runs in a log's lines, and how many lines were not a run (a torn last line)."""
    runs, bad = [], 0
    for text in lines:
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            bad += 1
            continue
        if isinstance(doc, dict) and isinstance(doc.get("per_path"), dict):
            runs.append(doc)
        else:
            bad += 1
    return runs, bad


def version(run: Mapping[str, Any]) -> str:
    """What a run's figures belong to: its code commit, marked when the tree was not clean."""
    return str(run.get("code") or run.get("commit") or "?")[:12] + ("+dirty" if run.get("dirty") else "")


@dataclass
class PathTotal:
    trials: int = 0
    over_500ms: int = 0
    restarts: int = 0
    watched: int = 0
    not_run: int = 0
    max_ms: float | None = None
    ms: list[float] = field(default_factory=list)
    seconds: float = 0.0      # time spent in the path's trials, run or not

    def add(self, doc: Mapping[str, Any]) -> None:
        self.trials += int(doc.get("trials", 0))
        self.over_500ms += int(doc.get("over_500ms", 0))
        self.restarts += int(doc.get("restarts", 0))
        self.watched += int(doc.get("watched", 0))
        self.not_run += int(doc.get("not_run", 0))
        if doc.get("max_ms") is not None:
            self.max_ms = max(self.max_ms or 0.0, float(doc["max_ms"]))
        self.ms += [float(v) for v in doc.get("ms", [])]
        self.seconds += float(doc.get("seconds", 0.0))

    def quantile(self, q: float) -> float | None:
        """Over every logged stop (nearest rank); None when there is none."""
        return percentile(self.ms, q) if self.ms else None


@dataclass
class VersionTotal:
    version: str
    runs: int = 0
    first: str = ""
    last: str = ""
    loads: list[float] = field(default_factory=list)
    hogs: set[int] = field(default_factory=set)
    paths: dict[str, PathTotal] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)   # the commits its runs were on, in order
    files: int | None = None    # loaded files hashed into the version; None: a commit-named one


def totals(runs: Iterable[Mapping[str, Any]]) -> dict[str, VersionTotal]:
    """Per code version (`version`), per path: the runs added up, in the log's order."""
    out: dict[str, VersionTotal] = {}
    for run in runs:
        key = version(run)
        total = out.setdefault(key, VersionTotal(key, first=str(run.get("date", ""))))
        total.runs += 1
        total.last = str(run.get("date", ""))
        total.loads += [float(run[k]) for k in ("load_start", "load_end") if run.get(k) is not None]
        total.hogs.add(int(run.get("hogs", 0)))
        commit = str(run.get("commit") or "?")[:12]
        if commit not in total.commits:
            total.commits.append(commit)
        if run.get("code_files") is not None:
            total.files = int(run["code_files"])
        for path in PATHS:
            if path in run["per_path"]:
                total.paths.setdefault(path, PathTotal()).add(run["per_path"][path])
    return out


def report(runs: Sequence[Mapping[str, Any]], current: str, bad_lines: int = 0) -> str:
    """The totals as text: the current code's first, then every other version apart."""
    versions = totals(runs)
    lines = [f"bench safety log: {len(runs)} run(s)"
             + (f", {bad_lines} unreadable line(s) skipped" if bad_lines else "")]
    if current not in versions:
        lines.append(f"no run of the current code ({current}) logged yet")
    for key in sorted(versions, key=lambda k: k != current):
        lines += _version_lines(versions[key], current=key == current)
    return "\n".join(lines)


def _version_lines(total: VersionTotal, current: bool) -> list[str]:
    hogs = "/".join(str(h) for h in sorted(total.hogs))
    load = f"{min(total.loads):.1f}-{max(total.loads):.1f}" if total.loads else "?"
    kind = (f"hash of {total.files} loaded files" if total.files is not None
            else "newest non-docs commit")
    lines = ["", f"code {total.version}{' (current)' if current else ' (other code: not the current figures)'}: "
             f"{total.runs} run(s), {total.first} .. {total.last}, hogs {hogs}, load average {load}",
             f"  identity: {kind}; on commit(s) {', '.join(total.commits)}",
             f"  {'path':<18} {'trials':>6} {'over 0.5s':>9} {'restarts':>8} {'watched':>7} "
             f"{'not run':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'s/trial':>7}"]
    for path, t in total.paths.items():
        done = t.watched + t.not_run
        lines.append(f"  {path:<18} {t.trials:>6} {t.over_500ms:>9} {t.restarts:>8} {t.watched:>7} "
                     f"{t.not_run:>7} {_ms(t.quantile(0.5)):>8} {_ms(t.quantile(0.99)):>8} "
                     f"{_ms(t.max_ms):>8} {(f'{t.seconds / done:.1f}' if done else '-'):>7}")
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
