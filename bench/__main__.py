"""`python -m bench [NAME ...]` runs bench/bench_NAME.py modules and prints their figures.

Each benchmark module exposes `run() -> dict[str, object]`: figure name -> value (numbers carry
their unit in the name, e.g. `p50_ms`). Ratios, where a benchmark gives them, are computed
inside one run against a baseline measured in the same run; other figures are absolute (this
machine). docs/BENCHMARKS.md says which is which.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
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
        figures = module.run()
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
