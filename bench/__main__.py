"""`python -m bench [NAME ...]` runs bench/bench_NAME.py modules and prints their figures.

Each benchmark module exposes `run() -> dict[str, object]`: figure name -> value (numbers carry
their unit in the name, e.g. `p50_ms`). Ratios, where a benchmark gives them, are computed
inside one run against a baseline measured in the same run; other figures are absolute (this
machine). docs/BENCHMARKS.md says which is which.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import signal
import sys
import time
from pathlib import Path

from bench.stats import NoSamples


#: `--NAME=VALUE` options, passed to the benchmarks as environment variables.
OPTIONS = {"trials": "ROBOT_DOG_BENCH_TRIALS", "hogs": "ROBOT_DOG_BENCH_HOGS",
           "paths": "ROBOT_DOG_BENCH_PATHS", "minutes": "ROBOT_DOG_BENCH_MINUTES"}


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("bench_"))


def usage() -> str:
    first_lines = []
    for name in available():
        doc = (importlib.import_module(f"bench.bench_{name}").__doc__ or "").strip()
        first_lines.append(f"  {name:<16} {doc.splitlines()[0] if doc else ''}")
    return ("usage: ./dev.sh bench [NAME ...] [--json] [--trials=N] [--summary]   (no NAME: every benchmark)\n"
            "Prints each benchmark's figures (docs/BENCHMARKS.md says what they mean).\n"
            "--trials=N: trials per case, for the benchmarks that take it (ROBOT_DOG_BENCH_TRIALS).\n"
            "--hogs=N: CPU hogs beside the stack in bench safety (default 2; ROBOT_DOG_BENCH_HOGS).\n"
            "--paths=a,b: only these paths of bench safety (ROBOT_DOG_BENCH_PATHS).\n"
            "--minutes=M: bench safety starts no new round after M minutes (ROBOT_DOG_BENCH_MINUTES).\n"
            "--summary: print the totals over a benchmark's results log instead of running it "
            "(bench safety)."
            "\n\n"
            + "\n".join(first_lines))


def summaries(names: list[str], explicit: bool) -> int:
    """`--summary`: each benchmark's totals over its results log (`logged_totals()`); with no
    NAME, those of the benchmarks that keep one."""
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        if not hasattr(module, "logged_totals"):
            if not explicit:
                continue
            print(f"bench {name} keeps no results log (--summary is for: safety)", file=sys.stderr)
            return 2
        print(f"== {name}\n{module.logged_totals()}", flush=True)
    return 0


def stop_cleanly_on_sigterm() -> None:
    """`kill` (SIGTERM) ends a benchmark through its `finally` blocks: its processes stopped
    (bench/procs.py), its CPU hogs ended and what it ran logged (bench safety). Python's default
    for SIGTERM ends the process at once and left the stack's nodes and hogs running, orphaned."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


def main(argv: list[str]) -> int:
    stop_cleanly_on_sigterm()
    if "-h" in argv or "--help" in argv:
        print(usage())
        return 0
    as_json = "--json" in argv
    for option, variable in OPTIONS.items():
        for arg in [a for a in argv if a.startswith(f"--{option}=")]:
            os.environ[variable] = arg.split("=", 1)[1]
            argv = [a for a in argv if a != arg]
    as_summary = "--summary" in argv
    flags = {a for a in argv if a.startswith("-")} - {"--json", "--summary"}
    if flags:
        print(f"unknown option(s): {', '.join(sorted(flags))}\n{usage()}", file=sys.stderr)
        return 2
    named = [a for a in argv if not a.startswith("--")]
    names = named or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
              file=sys.stderr)
        return 2
    if as_summary:
        return summaries(names, explicit=bool(named))
    results: dict[str, dict[str, object]] = {}
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            figures = module.run()
        except NoSamples as exc:
            print(f"   FAILED: {name}: {exc}", file=sys.stderr, flush=True)
            return 1
        for key, value in figures.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"   {key:<40} {shown}", flush=True)
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
        results[name] = figures
    if as_json:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
