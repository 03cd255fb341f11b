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
import sys
import time
from pathlib import Path

from bench.stats import NoSamples


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("bench_"))


def usage() -> str:
    first_lines = []
    for name in available():
        doc = (importlib.import_module(f"bench.bench_{name}").__doc__ or "").strip()
        first_lines.append(f"  {name:<16} {doc.splitlines()[0] if doc else ''}")
    return ("usage: ./dev.sh bench [NAME ...] [--json] [--trials=N]   (no NAME: every benchmark)\n"
            "Prints each benchmark's figures (docs/BENCHMARKS.md says what they mean).\n"
            "--trials=N: trials per case, for the benchmarks that take it (ROBOT_DOG_BENCH_TRIALS).\n"
            "--hogs=N: CPU hogs beside the stack in bench safety (default 2; ROBOT_DOG_BENCH_HOGS)."
            "\n\n"
            + "\n".join(first_lines))


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print(usage())
        return 0
    as_json = "--json" in argv
    for arg in [a for a in argv if a.startswith("--trials=")]:
        os.environ["ROBOT_DOG_BENCH_TRIALS"] = arg.split("=", 1)[1]
        argv = [a for a in argv if a != arg]
    for arg in [a for a in argv if a.startswith("--hogs=")]:
        os.environ["ROBOT_DOG_BENCH_HOGS"] = arg.split("=", 1)[1]
        argv = [a for a in argv if a != arg]
    flags = {a for a in argv if a.startswith("-")} - {"--json"}
    if flags:
        print(f"unknown option(s): {', '.join(sorted(flags))}\n{usage()}", file=sys.stderr)
        return 2
    names = [a for a in argv if not a.startswith("--")] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
              file=sys.stderr)
        return 2
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
