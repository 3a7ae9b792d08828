"""`make bench`: every benchmark, one after the other, each in a process of its own so that one failing does not
stop the others; each writes its own results to benchmarks/results/ (see docs/benchmarks.md).

    python -m benchmarks.suite [--only intake,pages] [--skip dashboard]

Ends with a non-zero status if any of them failed, after running the rest.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

# name -> (module, what it measures). Intake first: it wants the quietest machine.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "intake": ("benchmarks.run_all", "submissions and reads per second, SQLite and PostgreSQL (issue 2)"),
    "pages": ("benchmarks.pages", "staff inbox and request page with 100,000 requests (issue 3)"),
    "open311": ("benchmarks.open311", "GET /open311/v2/requests.json over 1,000,000 requests (issue 4)"),
    "classify": ("benchmarks.classify", "category classifier quality and speed under 5-fold CV (issue 5)"),
    "classify_variants": ("benchmarks.classify_variants", "variants of the category model on msga (issue 5)"),
    "dedup": ("benchmarks.dedup", "duplicate finding against 1,000,000 requests (issue 5)"),
    "dashboard": ("benchmarks.dashboard", "dashboards and metrics with 1,000,000 requests (issue 6)"),
    "opendata": (
        "benchmarks.opendata",
        "package_search over 100,000 datasets, datastore_search over 1,000,000 rows (issue 15)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated names: " + ", ".join(BENCHMARKS))
    parser.add_argument("--skip", default="", help="comma-separated names to leave out")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    skipped = {n.strip() for n in args.skip.split(",") if n.strip()}
    unknown = (set(chosen) | skipped) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}")
    failed = []
    for name in chosen:
        if name in skipped:
            continue
        module, what = BENCHMARKS[name]
        print(f"== {name}: {what}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", module])
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
