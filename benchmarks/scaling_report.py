"""The tables of `benchmarks/results/scaling-*.md` from the JSON that `benchmarks.scaling measure` writes.

`python -m benchmarks.scaling_report MEASURE.json` prints Markdown: one row per figure, one column per run
(plain and partitioned alternate), each cell the median in ms with the 1-minute load average beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LABELS = {
    "inbox_street_all": "inbox: a street's handler, all statuses, first page",
    "inbox_street_open": "inbox: a street's handler, open statuses, first page",
    "inbox_street_open_60d": "inbox: a street's handler, open statuses received in the last 60 days",
    "inbox_district_open": "inbox: a district's supervisor, open statuses, first page",
    "tracking_lookup": "tracking number lookup",
    "tracking_lookup_with_day": "tracking number lookup + its day",
    "timeline": "a request's timeline (its events)",
    "dashboard_city_30d_none": "dashboard table, city, 30 days, facts",
    "dashboard_city_30d_category": "dashboard table by category, city, 30 days, facts",
    "dashboard_district_30d_none": "dashboard table, district, 30 days, facts",
    "dashboard_district_30d_category": "dashboard table by category, district, 30 days, facts",
    "dashboard_city_365d_none": "dashboard table, city, 365 days, facts",
    "dashboard_city_365d_category": "dashboard table by category, city, 365 days, facts",
    "dashboard_district_365d_none": "dashboard table, district, 365 days, facts",
    "dashboard_district_365d_category": "dashboard table by category, district, 365 days, facts",
    "dashboard_city_30d_rollups": "dashboard table by category, city, 30 days, daily roll-ups",
    "dashboard_district_30d_rollups": "dashboard table by category, district, 30 days, daily roll-ups",
}


def cell(figure: dict[str, Any], key: str) -> str:
    return f"{figure[key]} ({figure['load']})"


def render(runs: list[dict[str, Any]]) -> str:
    heads = [f"{r['database']} r{r['round']}" for r in runs]
    lines = ["| query (median ms, load) | " + " | ".join(heads) + " |", "|---" + "|---:" * len(runs) + "|"]
    for key, label in LABELS.items():
        if all(key in r for r in runs):
            lines.append(f"| {label} | " + " | ".join(cell(r[key], "median_ms") for r in runs) + " |")
    lines += ["", "| intake (real CTE, one commit each) | " + " | ".join(heads) + " |"]
    lines.append("|---" + "|---:" * len(runs) + "|")
    for key in ("per_s", "p50_ms", "p99_ms", "errors", "clients", "load"):
        lines.append(f"| {key} | " + " | ".join(str(r["intake"][key]) for r in runs) + " |")
    lines += ["", "| maintenance (s, load) | " + " | ".join(heads) + " |", "|---" + "|---:" * len(runs) + "|"]
    for key in ("rollup_one_day_s", "analyze_requests_s", "analyze_request_events_s"):
        lines.append(f"| {key} | " + " | ".join(cell(r[key], "s") for r in runs) + " |")
    last = {r["database"]: r["sizes"] for r in runs}
    lines += ["", "| table | " + " | ".join(f"{k} table MB | {k} indexes MB" for k in last) + " |"]
    lines.append("|---" + "|---:|---:" * len(last) + "|")
    for table in next(iter(last.values())):
        values = " | ".join(f"{s[table]['table_mb']} | {s[table]['indexes_mb']}" for s in last.values())
        lines.append(f"| {table} | {values} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
